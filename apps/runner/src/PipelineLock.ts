import { randomUUID } from "node:crypto"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"

/**
 * One runner per pipeline and state folder. Two runners exporting the same pipeline would each commit
 * the other's cursor away and deliver everything twice; worse, a sink opening its file repairs what looks
 * like a torn tail, which is the other runner's write in progress. So a runner takes the pipeline's lock
 * before it opens anything, and gives it back when the pipeline stops.
 *
 * The lock is a file, `<stateDir>/<pipeline>.lock`, that appears with its holder already written in it
 * (written to a temporary file, then hard-linked into place, which fails when the lock exists). A lock is
 * stale, and taken over, when its process is gone (on the same host) or when its holder has not refreshed
 * it for `STALE_AFTER_MS` (a holder on another host or in another pid namespace, whose pid means nothing
 * here; a pid reused by an unrelated process). Removing a stale lock is itself guarded (`removeStale`), so
 * of several runners started at once after a crash exactly one gets the pipeline.
 *
 * The file store is local: runners on several machines sharing a state folder over a network file system
 * are told apart by host, but the staleness of a crashed remote holder is only seen after `STALE_AFTER_MS`.
 */

/** Who holds a lock, as written in the file. */
export interface LockHolder {
  readonly pid: number
  readonly host: string
  readonly since: string
}

/** The pipeline is locked by another runner, or its lock cannot be taken. */
export class PipelineLockError extends Data.TaggedError("PipelineLockError")<{
  readonly pipeline: string
  readonly message: string
  readonly holder?: LockHolder | undefined
  readonly cause?: unknown
}> {}

/** A live holder touches its lock this often... */
export const REFRESH_EVERY_MS = 10_000
/** ...so a lock untouched for this long has no live holder, whatever its pid says. */
export const STALE_AFTER_MS = 60_000

export const lockFile = (stateDir: string, pipeline: string): string => path.join(stateDir, `${pipeline}.lock`)

const codeOf = (cause: unknown): string | undefined => (cause as NodeJS.ErrnoException | undefined)?.code

const processExists = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (cause) {
    // EPERM: it exists, under another user.
    return codeOf(cause) === "EPERM"
  }
}

const parseHolder = (text: string): LockHolder | undefined => {
  try {
    const value = JSON.parse(text) as Partial<LockHolder>
    return Number.isSafeInteger(value.pid) && typeof value.host === "string" && typeof value.since === "string"
      ? { pid: value.pid!, host: value.host, since: value.since }
      : undefined
  } catch {
    return undefined
  }
}

/** The lock's contents and age, or undefined when there is no lock. */
const inspect = async (file: string): Promise<{ readonly text: string; readonly ageMs: number } | undefined> => {
  try {
    const [text, stat] = await Promise.all([fs.readFile(file, "utf8"), fs.stat(file)])
    return { text, ageMs: Date.now() - stat.mtimeMs }
  } catch (cause) {
    if (codeOf(cause) === "ENOENT") return undefined
    throw cause
  }
}

const isLive = (holder: LockHolder | undefined, ageMs: number): holder is LockHolder => {
  // A lock written in one go that does not parse was not written by a runner: nobody holds it.
  if (holder === undefined || ageMs > STALE_AFTER_MS) return false
  if (holder.host !== os.hostname()) return true
  // Our own pid in a lock we have not taken: an earlier process had it (pid 1 in a restarted container).
  return holder.pid !== process.pid && processExists(holder.pid)
}

type Attempt =
  | { readonly _tag: "Acquired" }
  | { readonly _tag: "Held"; readonly holder: LockHolder }
  | { readonly _tag: "TookOver"; readonly from: LockHolder | undefined }
  | { readonly _tag: "Retry" }

/** A takeover that has held its mutex this long died half-way; its mutex is removed. */
const TAKEOVER_ABANDONED_MS = 10_000

/**
 * Removes a stale lock, unless it changed since it was judged stale. Only the runner that creates
 * `<lock>.takeover` may do so: two runners that found the same stale lock could otherwise each remove it,
 * the second one removing the lock the first had just taken.
 */
const removeStale = async (file: string, staleText: string, temporary: string): Promise<boolean> => {
  const mutex = `${file}.takeover`
  try {
    await fs.link(temporary, mutex)
  } catch (cause) {
    if (codeOf(cause) !== "EEXIST") throw cause
    const stat = await fs.stat(mutex).catch(() => undefined)
    if (stat !== undefined && Date.now() - stat.mtimeMs > TAKEOVER_ABANDONED_MS) await fs.rm(mutex, { force: true })
    else await new Promise((resolve) => setTimeout(resolve, 50))
    return false
  }
  try {
    const now = await fs.readFile(file, "utf8").catch((cause: unknown) => (codeOf(cause) === "ENOENT" ? undefined : Promise.reject(cause)))
    if (now !== staleText) return false
    await fs.rm(file, { force: true })
    return true
  } finally {
    await fs.rm(mutex, { force: true })
  }
}

const tryAcquire = async (file: string, temporary: string): Promise<Attempt> => {
  try {
    await fs.link(temporary, file)
    return { _tag: "Acquired" }
  } catch (cause) {
    if (codeOf(cause) !== "EEXIST") throw cause
  }
  const found = await inspect(file)
  if (found === undefined) return { _tag: "Retry" }
  const holder = parseHolder(found.text)
  if (isLive(holder, found.ageMs)) return { _tag: "Held", holder }
  if (!(await removeStale(file, found.text, temporary))) return { _tag: "Retry" }
  try {
    await fs.link(temporary, file)
    return { _tag: "TookOver", from: holder }
  } catch (cause) {
    if (codeOf(cause) === "EEXIST") return { _tag: "Retry" }
    throw cause
  }
}

const heldMessage = (pipeline: string, file: string, holder: LockHolder): string => {
  const where = holder.host === os.hostname() ? "" : ` on host ${holder.host}`
  return (
    `pipeline ${pipeline} is already running in process ${holder.pid}${where} since ${holder.since} ` +
    `(it holds ${file}); stop that runner first`
  )
}

const acquire = (stateDir: string, pipeline: string): Effect.Effect<string, PipelineLockError> => {
  const file = lockFile(stateDir, pipeline)
  const mine = JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date().toISOString() } satisfies LockHolder) + "\n"
  const failed = (cause: unknown) =>
    new PipelineLockError({ pipeline, message: `pipeline ${pipeline}: cannot take its lock ${file}: ${cause instanceof Error ? cause.message : String(cause)}`, cause })
  return Effect.gen(function* () {
    const temporary = `${file}.${process.pid}-${randomUUID()}.tmp`
    const attempt = yield* Effect.tryPromise({
      try: async () => {
        await fs.mkdir(stateDir, { recursive: true })
        await fs.writeFile(temporary, mine, { flag: "wx" })
        try {
          // A few rounds: each lost race means another runner changed the lock meanwhile; look again.
          for (let round = 0; round < 20; round++) {
            const result = await tryAcquire(file, temporary)
            if (result._tag !== "Retry") return result
          }
          throw new Error("other runners keep changing it; try again")
        } finally {
          await fs.rm(temporary, { force: true })
        }
      },
      catch: failed
    })
    if (attempt._tag === "Held") return yield* Effect.fail(new PipelineLockError({ pipeline, message: heldMessage(pipeline, file, attempt.holder), holder: attempt.holder }))
    if (attempt._tag === "TookOver") {
      yield* Effect.logWarning(
        `took over ${file}, left by ${attempt.from === undefined ? "an unreadable lock" : `process ${attempt.from.pid}`}, which no longer runs`
      )
    }
    return mine
  })
}

/**
 * Gives the lock back, only if it is still ours: after a pause longer than `STALE_AFTER_MS` another runner
 * may have taken it over, and its lock is not ours to remove.
 */
const release = (file: string, mine: string): Effect.Effect<void> =>
  Effect.promise(async () => {
    const text = await fs.readFile(file, "utf8").catch(() => undefined)
    if (text === mine) await fs.rm(file, { force: true })
  }).pipe(Effect.catchAllCause(() => Effect.void))

/** Tells other runners the holder is alive; a failed touch is tried again at the next round. */
const refresh = (file: string): Effect.Effect<void> =>
  Effect.promise(() => {
    const now = new Date()
    return fs.utimes(file, now, now).catch(() => undefined)
  })

/**
 * Holds the pipeline's lock for the rest of the scope: fails with a `PipelineLockError` naming the holder
 * when another live runner has it, takes a stale one over, and releases it when the scope closes.
 */
export const hold = (stateDir: string, pipeline: string): Effect.Effect<void, PipelineLockError, Scope.Scope> => {
  const file = lockFile(stateDir, pipeline)
  return Effect.acquireRelease(acquire(stateDir, pipeline), (mine) => release(file, mine)).pipe(
    Effect.zipRight(Effect.forkScoped(refresh(file).pipe(Effect.repeat(Schedule.spaced(REFRESH_EVERY_MS))))),
    Effect.asVoid,
    Effect.annotateLogs("pipeline", pipeline)
  )
}
