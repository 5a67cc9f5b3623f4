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
  const existed = await fs.stat(file).then(
    () => true,
    () => false
  )
  const handle = await fs.open(file, "a")
  try {
    await handle.writeFile(contents, "utf8")
    await handle.sync()
  } finally {
    await handle.close()
  }
  if (!existed) await syncDirectory(path.dirname(file))
}

/** JSON that never throws on the values stores hand out: bigint becomes a string. */
export const toJson = (value: unknown): string =>
  JSON.stringify(value, (_, v: unknown) => (typeof v === "bigint" ? v.toString() : v))

export const errorText = (cause: unknown): string =>
  cause instanceof Error ? cause.message : typeof cause === "string" ? cause : String(cause)
