import * as fs from "node:fs/promises"
import * as path from "node:path"
import type { SinkError } from "@featbit-export/core"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { rotatedFile } from "../FileLayout.js"
import { FolderError, fileError } from "./errors.js"

/** The one file a sink appends to, with the bookkeeping that keeps it a sequence of whole lines. */
export interface ActiveFile {
  readonly file: string
  /**
   * Appends `bytes` (whole lines) and fsyncs; succeeds only once they are on disk. Rotates first when they
   * would take a non-empty file past `maxBytes`. Calls are serialised.
   */
  readonly append: (bytes: Uint8Array) => Effect.Effect<void, SinkError>
  /** The size of the active file on disk now. */
  readonly size: Effect.Effect<number, SinkError>
}

const attempt = <A>(subject: string, run: () => Promise<A>): Effect.Effect<A, SinkError> =>
  Effect.tryPromise({ try: run, catch: (cause) => fileError(subject, cause) })

/** Makes a folder's entries (files created or renamed in it) survive a crash. */
export const syncDirectory = async (dir: string): Promise<void> => {
  // Windows cannot open a folder for fsync; NTFS journals its entries itself.
  if (process.platform === "win32") return
  const handle = await fs.open(dir, "r")
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

const codeOf = (cause: unknown): string | undefined => (cause as NodeJS.ErrnoException | undefined)?.code

/**
 * `mkdir -p` that fsyncs the parent of every folder it creates, so the path itself survives a crash.
 * Done by hand: Node's recursive mkdir never settles when a parent refuses new folders with ENOENT
 * (under /proc, for one), and by hand the folder that fails is known and can be named.
 */
export const ensureFolder = async (dir: string): Promise<void> => {
  const missing: Array<string> = []
  for (let current = dir; ; current = path.dirname(current)) {
    try {
      await fs.stat(current)
      break // not a folder: mkdir below, or opening the file, reports it
    } catch (cause) {
      if (codeOf(cause) !== "ENOENT" || path.dirname(current) === current) throw cause
      missing.unshift(current)
    }
  }
  for (const folder of missing) {
    try {
      await fs.mkdir(folder)
    } catch (cause) {
      const code = codeOf(cause)
      if (code === "EEXIST") {
        const found = await fs.lstat(folder)
        if (found.isSymbolicLink()) {
          throw new FolderError(`${folder} is a symbolic link that points nowhere; fix the link or choose another path`)
        }
        if (found.isDirectory()) continue // created meanwhile by someone else
      }
      if (code === "ENOENT") throw new FolderError(`the folder ${folder} cannot be created there; choose another path`)
      throw cause
    }
    await syncDirectory(path.dirname(folder))
  }
}

const readFully = async (handle: fs.FileHandle, into: Buffer, length: number, position: number): Promise<void> => {
  let done = 0
  while (done < length) {
    const { bytesRead } = await handle.read(into, done, length - done, position + done)
    if (bytesRead === 0) throw Object.assign(new Error("file shrank while being read"), { code: "EAGAIN" })
    done += bytesRead
  }
}

/** The offset just after the last "\n" among the first `size` bytes, or 0 if there is none. */
const endOfLastLine = async (handle: fs.FileHandle, size: number): Promise<number> => {
  const chunk = Buffer.alloc(Math.min(64 * 1024, size))
  for (let end = size; end > 0; ) {
    const start = Math.max(0, end - chunk.length)
    await readFully(handle, chunk, end - start, start)
    const at = chunk.subarray(0, end - start).lastIndexOf(0x0a)
    if (at >= 0) return start + at + 1
    end = start
  }
  return 0
}

const exists = async (file: string): Promise<boolean> => {
  try {
    await fs.lstat(file)
    return true
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === "ENOENT") return false
    throw cause
  }
}

/**
 * Fails unless `file` is still the file `handle` writes to. Deleted or replaced under the sink (by a person, a
 * cleanup job, an outside log rotation), the open handle keeps writing into a file nobody can find, and every
 * batch would be acknowledged as exported while existing nowhere.
 */
const checkStillThere = async (file: string, handle: fs.FileHandle): Promise<void> => {
  const ours = await handle.stat()
  let theirs: { dev: number; ino: number } | undefined
  try {
    theirs = await fs.stat(file)
  } catch (cause) {
    if (codeOf(cause) !== "ENOENT") throw cause
  }
  if (theirs === undefined || theirs.ino !== ours.ino || theirs.dev !== ours.dev) {
    throw Object.assign(new Error(`${file} vanished`), { code: theirs === undefined ? "EVANISHED" : "EREPLACED" })
  }
}

/**
 * Opens `file` for appending (creating its folders) in the scope, and closes it when the scope closes.
 *
 * Every batch ends with "\n" and is acknowledged only after fsync, so bytes after the last "\n" can only
 * come from a batch that was never acknowledged: the engine sends it again. Before the first append those
 * bytes are cut off, so the re-sent batch does not glue its first line onto a torn one. Within a run, a
 * failed append is undone the same way before the retry, using the size known to be good.
 */
export const open = (file: string, maxBytes: number | undefined): Effect.Effect<ActiveFile, SinkError, Scope.Scope> =>
  Effect.gen(function* () {
    const dir = path.dirname(file)
    const lock = yield* Effect.makeSemaphore(1)
    let handle: fs.FileHandle | undefined
    // Bytes of the active file known to be durable and to end with a whole line; undefined until checked.
    let goodSize: number | undefined
    // A failed append may have left bytes after goodSize.
    let dirty = false

    const openHandle: Effect.Effect<fs.FileHandle, SinkError> = Effect.gen(function* () {
      yield* attempt(file, () => ensureFolder(dir))
      const opened = yield* attempt(file, () => fs.open(file, "a+"))
      handle = opened
      // A file just created is only durable once its folder entry is.
      yield* attempt(file, () => syncDirectory(dir))
      return opened
    })

    const cutTornTail = (current: fs.FileHandle): Effect.Effect<number, SinkError> =>
      Effect.gen(function* () {
        const { size } = yield* attempt(file, () => current.stat())
        if (size === 0) return 0
        const keep = yield* attempt(file, () => endOfLastLine(current, size))
        if (keep === size) return size
        yield* attempt(file, async () => {
          await current.truncate(keep)
          await current.sync()
        })
        yield* Effect.logWarning(
          `${file}: dropped ${size - keep} bytes after the last complete line, left by a write that never completed (a crash, a full disk); ` +
            "that batch was never acknowledged and is written again"
        )
        return keep
      })

    const close = (current: fs.FileHandle): Effect.Effect<void> =>
      Effect.promise(() => current.close().catch(() => undefined)).pipe(
        Effect.zipRight(Effect.sync(() => void (handle = undefined)))
      )

    const rotate = (current: fs.FileHandle): Effect.Effect<{ readonly fresh: fs.FileHandle; readonly size: number }, SinkError> =>
      Effect.gen(function* () {
        // Everything in it was fsynced by the append that wrote it; a failed close loses nothing.
        yield* close(current)
        const now = yield* Clock.currentTimeMillis
        const target = yield* attempt(file, async () => {
          for (let n = 1; ; n++) {
            const candidate = rotatedFile(file, now, n)
            if (!(await exists(candidate))) return candidate
          }
        })
        yield* attempt(file, () => fs.rename(file, target))
        goodSize = undefined
        // Opening the new file fsyncs the folder, which also makes the rename durable.
        const fresh = yield* openHandle
        const size = (goodSize = yield* cutTornTail(fresh))
        yield* Effect.logInfo(`rotated ${file} to ${path.basename(target)}`)
        return { fresh, size }
      })

    const append = (bytes: Uint8Array): Effect.Effect<void, SinkError> =>
      Effect.gen(function* () {
        let current = handle ?? (yield* openHandle)
        let size: number
        if (goodSize === undefined) {
          size = goodSize = yield* cutTornTail(current)
        } else {
          size = goodSize
          if (dirty) {
            const keep = size
            yield* attempt(file, () => current.truncate(keep))
            dirty = false
          }
        }
        if (maxBytes !== undefined && size > 0 && size + bytes.length > maxBytes) {
          const rotated = yield* rotate(current)
          current = rotated.fresh
          size = rotated.size
        }
        dirty = true
        const target = current
        yield* attempt(file, async () => {
          for (let written = 0; written < bytes.length; ) {
            written += (await target.write(bytes, written, bytes.length - written, null)).bytesWritten
          }
          await target.sync()
          await checkStillThere(file, target)
        })
        goodSize = size + bytes.length
        dirty = false
      }).pipe(
        // Stopping half-way would leave the state above out of step with the file; a local append is short.
        Effect.uninterruptible,
        lock.withPermits(1)
      )

    yield* Effect.acquireRelease(openHandle, () =>
      lock.withPermits(1)(Effect.suspend(() => (handle === undefined ? Effect.void : close(handle))))
    )

    return {
      file,
      append,
      size: attempt(file, async () => (await fs.stat(file)).size)
    }
  })
