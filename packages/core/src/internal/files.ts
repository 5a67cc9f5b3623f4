import { randomUUID } from "node:crypto"
import * as fs from "node:fs/promises"
import * as path from "node:path"

/**
 * Replaces `file` with `contents` so that a crash leaves either the old or the new contents, never a mix:
 * write a temporary file, fsync it, rename it over the target, fsync the folder so the rename is durable.
 */
export const writeFileAtomic = async (file: string, contents: string): Promise<void> => {
  const dir = path.dirname(file)
  await fs.mkdir(dir, { recursive: true })
  const temporary = path.join(dir, `.${path.basename(file)}.${randomUUID()}.tmp`)
  try {
    const handle = await fs.open(temporary, "w")
    try {
      await handle.writeFile(contents, "utf8")
      await handle.sync()
    } finally {
      await handle.close()
    }
    await fs.rename(temporary, file)
  } catch (error) {
    await fs.rm(temporary, { force: true })
    throw error
  }
  await syncDirectory(dir)
}

/** Makes a folder's entries (created, renamed files) durable. */
export const syncDirectory = async (dir: string): Promise<void> => {
  const handle = await fs.open(dir, "r")
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** Appends `contents` to `file` and fsyncs before returning (the folder too, when the file is new). */
export const appendDurably = async (file: string, contents: string): Promise<void> => {
  await fs.mkdir(path.dirname(file), { recursive: true })
  const size = await fs.stat(file).then(
    (stat) => stat.size,
    () => undefined
  )
  const handle = await fs.open(file, size === undefined ? "a" : "a+")
  try {
    // A crash mid-append leaves a torn last line; start on a fresh line rather than glue onto it, which
    // keeps the evidence and every later record whole.
    const last = Buffer.alloc(1)
    if (size !== undefined && size > 0) await handle.read(last, 0, 1, size - 1)
    const prefix = size !== undefined && size > 0 && last[0] !== 0x0a ? "\n" : ""
    await handle.writeFile(prefix + contents, "utf8")
    await handle.sync()
  } finally {
    await handle.close()
  }
  if (size === undefined) await syncDirectory(path.dirname(file))
}

/** JSON that never throws on the values stores hand out: bigint becomes a string. */
export const toJson = (value: unknown): string =>
  JSON.stringify(value, (_, v: unknown) => (typeof v === "bigint" ? v.toString() : v))

export const errorText = (cause: unknown): string =>
  cause instanceof Error ? cause.message : typeof cause === "string" ? cause : String(cause)
