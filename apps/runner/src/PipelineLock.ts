import { randomUUID } from "node:crypto"
import * as fsSync from "node:fs"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

/**
 * One runner per pipeline and state folder. Two runners exporting the same pipeline would each commit
 * the other's cursor away and deliver everything twice; worse, a sink opening its file repairs what looks
 * like a torn tail, which is the other runner's write in progress. So a runner takes the pipeline's lock
 * before it opens anything, and gives it back when the pipeline stops.
 *
 * The lock is a file, `<stateDir>/<pipeline>.lock`, that appears with its holder already written in it
 * (written to a temporary file, then hard-linked into place, which fails when the lock exists). The holder
 * is named by what tells one process from another that later got its pid: pid, host name and, on Linux, the
 * kernel's boot id and the process's start time (clock ticks since boot, field 22 of `/proc/<pid>/stat`).
 *
 * Whether a holder is alive (`judge`):
 * - on this host (same host name and boot id): iff a process with its pid runs and started when the lock
 *   says. Age does not matter: a holder paused for minutes (SIGSTOP, a frozen container) is alive and keeps
 *   its lock. A pid now used by another process (other start time), or our own pid in a lock we did not
 *   take (pid 1 in a restarted container), is a holder that is gone: its lock is taken over at once;
 * - on another host (a state folder shared over a network file system; a pid means nothing there): alive
 *   while it refreshes the lock (touched every `REFRESH_EVERY_MS`), stale once untouched for
 *   `STALE_AFTER_MS`. A crashed remote holder is only seen after that;
 * - a lock without start time (an older runner, or a system without /proc): on this host, alive while its
 *   pid runs and the lock is refreshed; so a pid reused by an unrelated process frees it after
 *   `STALE_AFTER_MS`.
 * Removing a stale lock is itself guarded (`removeStale`), so of several runners started at once after a
 * crash exactly one gets the pipeline.
 *
 * A holder that lost its lock stops (`Held.lost`): each refresh reads the lock first, and when it is gone or
 * names another holder, the pipeline is interrupted before it commits more. A remote holder can only lose
 * its lock after a pause longer than `STALE_AFTER_MS`, so its refresh timer is overdue by then and fires as
 * soon as the process resumes; the read is synchronous (a small file), so no batch slips in between the
 * wake-up and the verdict. Runners sharing a host name and a boot id but not a pid namespace (two
 * containers of one pod on one volume) are not told apart: each would see the other's pid as gone; the loser
 * stops at its next refresh.
 */

/** What tells a process apart from another one that had the same pid before it. */
export interface ProcessIdentity {
  readonly pid: number
  readonly host: string
  /** Linux: `/proc/sys/kernel/random/boot_id`; pids and start times only compare within one boot. */
  readonly bootId?: string | undefined
  /** Linux: when the process started, in clock ticks since boot (`starttime`, field 22 of `/proc/<pid>/stat`). */
  readonly startTime?: number | undefined
}

/** Who holds a lock, as written in the file. */
export interface LockHolder extends ProcessIdentity {
  readonly since: string
}

/** The pipeline is locked by another runner, or its lock cannot be taken. */
export class PipelineLockError extends Data.TaggedError("PipelineLockError")<{
  readonly pipeline: string
  readonly message: string
  readonly holder?: LockHolder | undefined
  readonly cause?: unknown
}> {}

/** The runner held the pipeline's lock and no longer does: another runner took it over, or it was removed. */
export class PipelineLockLost extends Data.TaggedError("PipelineLockLost")<{
  readonly pipeline: string
  readonly file: string
  readonly message: string
  /** Who has it now; undefined when the file is gone or not a runner's. */
  readonly holder?: LockHolder | undefined
}> {}

/** A live holder touches its lock this often... */
export const REFRESH_EVERY_MS = 10_000
/** ...so a lock of another host untouched for this long has no live holder. */
export const STALE_AFTER_MS = 60_000

/** A positive whole number of milliseconds from the environment, else `fallback`. */
const millisFromEnv = (name: string, fallback: number): number => {
  const value = Number(process.env[name])
  return Number.isSafeInteger(value) && value > 0 ? value : fallback
}

/**
 * For tests only: `FEATBIT_EXPORT_LOCK_STALE_MS` and `FEATBIT_EXPORT_LOCK_REFRESH_MS` shorten the minute
 * and the ten seconds above, so that pauses and takeovers can be tested in seconds. Not for production:
 * a refresh slower than the staleness would hand a live remote holder's pipeline to another runner.
 */
const staleAfterMs = (): number => millisFromEnv("FEATBIT_EXPORT_LOCK_STALE_MS", STALE_AFTER_MS)
const refreshEveryMs = (): number => millisFromEnv("FEATBIT_EXPORT_LOCK_REFRESH_MS", REFRESH_EVERY_MS)

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

/**
 * The pid, state and start time in the text of `/proc/<pid>/stat`. The command name (field 2) is in
 * parentheses and may itself hold spaces and parentheses, so the fields are counted from the last `)`:
 * the state is field 3, the start time field 22.
 */
export const parseProcStat = (text: string): { readonly pid: number; readonly state: string; readonly startTime: number } | undefined => {
  const close = text.lastIndexOf(")")
  const open = text.indexOf("(")
  if (open < 0 || close < open) return undefined
  const pid = Number(text.slice(0, open).trim())
  const fields = text.slice(close + 1).trim().split(/\s+/)
  const state = fields[0]
  const startTime = Number(fields[22 - 3])
  return Number.isSafeInteger(pid) && state !== undefined && state !== "" && Number.isSafeInteger(startTime) && startTime >= 0
    ? { pid, state, startTime }
    : undefined
}

const readProcStat = (pid: number | "self") => {
  try {
    return parseProcStat(fsSync.readFileSync(`/proc/${pid}/stat`, "utf8"))
  } catch {
    return undefined
  }
}

/** What this host says of a pid now. */
export interface Seen {
  readonly exists: boolean
  /** Its start time, when `/proc` tells it. */
  readonly startTime?: number | undefined
}

/** Looks a pid up: in `/proc` where there is one (a zombie has ended), else by signal 0. */
export const lookUp = (pid: number): Seen => {
  const stat = readProcStat(pid)
  // No /proc (or one that hides other users' processes): whether it exists is all we learn.
  if (stat === undefined) return { exists: processExists(pid) }
  return { exists: stat.state !== "Z" && stat.state !== "X", startTime: stat.startTime }
}

let self: ProcessIdentity | undefined

/** This process, as a lock names it; computed once (none of it changes while it runs). */
export const selfIdentity = (): ProcessIdentity => {
  if (self !== undefined) return self
  const stat = readProcStat("self")
  let bootId: string | undefined
  try {
    bootId = fsSync.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim() || undefined
  } catch {
    bootId = undefined
  }
  // A /proc of another pid namespace than ours would describe other processes: use it only when it knows us.
  const known = stat !== undefined && stat.pid === process.pid && bootId !== undefined
  self = { pid: process.pid, host: os.hostname(), ...(known ? { bootId, startTime: stat.startTime } : {}) }
  return self
}

export type Verdict = { readonly _tag: "Live" } | { readonly _tag: "Stale"; readonly reason: string }

const live: Verdict = { _tag: "Live" }
const stale = (reason: string): Verdict => ({ _tag: "Stale", reason })

/**
 * Whether the holder a lock names, untouched for `ageMs`, is alive, as this process sees it. `here` and
 * `lookUp` are this process and `/proc` unless given; `staleAfterMs` is the age rule's threshold.
 */
export const judge = (
  holder: LockHolder | undefined,
  ageMs: number,
  options: { readonly here?: ProcessIdentity; readonly lookUp?: (pid: number) => Seen; readonly staleAfterMs?: number } = {}
): Verdict => {
  // A lock written in one go that does not parse was not written by a runner: nobody holds it.
  if (holder === undefined) return stale("an unreadable lock")
  const here = options.here ?? selfIdentity()
  const limit = options.staleAfterMs ?? staleAfterMs()
  const byAge = (where: string): Verdict =>
    ageMs > limit ? stale(`${where}; its lock was not refreshed for ${Math.round(ageMs / 1000)} s`) : live
  if (holder.host !== here.host) return byAge(`it ran on host ${holder.host}`)
  // The same name with another boot id: this host rebooted since, or another machine of the same name on a
  // shared folder. Its pid means nothing here.
  if (holder.bootId !== undefined && here.bootId !== undefined && holder.bootId !== here.bootId) return byAge("it ran under another boot of the kernel")
  // Our own pid in a lock we have not taken: an earlier process had it (pid 1 in a restarted container).
  if (holder.pid === here.pid) return stale(`pid ${holder.pid} is now this process`)
  const seen = (options.lookUp ?? lookUp)(holder.pid)
  if (!seen.exists) return stale(`no process has pid ${holder.pid}`)
  if (holder.startTime !== undefined && holder.bootId !== undefined && holder.bootId === here.bootId && seen.startTime !== undefined) {
    return seen.startTime === holder.startTime ? live : stale(`pid ${holder.pid} now belongs to another process`)
  }
  // A lock without start time (an older runner), or a process /proc does not show: today's rules.
  return byAge(`pid ${holder.pid} runs, but it may be another process`)
}

const parseHolder = (text: string): LockHolder | undefined => {
  try {
    const value = JSON.parse(text) as Partial<LockHolder>
    if (!Number.isSafeInteger(value.pid) || typeof value.host !== "string" || typeof value.since !== "string") return undefined
    const identified = typeof value.bootId === "string" && Number.isSafeInteger(value.startTime)
    return { pid: value.pid!, host: value.host, since: value.since, ...(identified ? { bootId: value.bootId, startTime: value.startTime } : {}) }
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

type Attempt =
  | { readonly _tag: "Acquired" }
  | { readonly _tag: "Held"; readonly holder: LockHolder }
  | { readonly _tag: "TookOver"; readonly from: LockHolder | undefined; readonly reason: string }
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
  const verdict = judge(holder, found.ageMs)
  if (verdict._tag === "Live") return { _tag: "Held", holder: holder! }
  if (!(await removeStale(file, found.text, temporary))) return { _tag: "Retry" }
  try {
    await fs.link(temporary, file)
    return { _tag: "TookOver", from: holder, reason: verdict.reason }
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
  const mine = JSON.stringify({ ...selfIdentity(), since: new Date().toISOString() } satisfies LockHolder) + "\n"
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
        `took over ${file}, left by ${attempt.from === undefined ? "an unreadable lock" : `process ${attempt.from.pid}, which no longer runs (${attempt.reason})`}`
      )
    }
    return mine
  })
}

/**
 * Gives the lock back, only if it is still ours: after a pause longer than `STALE_AFTER_MS` another runner
 * of another host may have taken it over, and its lock is not ours to remove.
 */
const release = (file: string, mine: string): Effect.Effect<void> =>
  Effect.promise(async () => {
    const text = await fs.readFile(file, "utf8").catch(() => undefined)
    if (text === mine) await fs.rm(file, { force: true })
  }).pipe(Effect.catchAllCause(() => Effect.void))

/** Tells other runners the holder is alive; a failed touch is tried again at the next round. */
const touch = (file: string): Effect.Effect<void> =>
  Effect.promise(() => {
    const now = new Date()
    return fs.utimes(file, now, now).catch(() => undefined)
  })

/**
 * What the lock holds now: ours, another holder's (or nothing), or unknown for this round (a read error
 * other than a missing file: a network file system's hiccup is no reason to stop). Synchronous on purpose:
 * a file of one line reads in microseconds, and no batch can slip in between a wake-up and the verdict.
 */
const readNow = (file: string, mine: string): "mine" | "unknown" | { readonly text: string | undefined } => {
  try {
    const text = fsSync.readFileSync(file, "utf8")
    return text === mine ? "mine" : { text }
  } catch (cause) {
    return codeOf(cause) === "ENOENT" ? { text: undefined } : "unknown"
  }
}

const lostMessage = (pipeline: string, file: string, text: string | undefined, holder: LockHolder | undefined): string => {
  const to =
    holder !== undefined
      ? ` to process ${holder.pid} (host ${holder.host}): another runner took it over`
      : text === undefined
        ? ": the file was removed"
        : ": the file was overwritten with something no runner writes"
  return `pipeline ${pipeline} lost its lock ${file}${to}; stopping without committing more`
}

/**
 * Every `REFRESH_EVERY_MS`, checks the lock is still ours and touches it; fails `lost` and ends once it is
 * not. After a pause the overdue timer fires as soon as the process resumes, so the check comes first.
 */
const watch = (pipeline: string, file: string, mine: string, lost: Deferred.Deferred<never, PipelineLockLost>): Effect.Effect<void> =>
  Effect.gen(function* () {
    const every = refreshEveryMs()
    while (true) {
      yield* Effect.sleep(every)
      const now = readNow(file, mine)
      if (now === "unknown") continue
      if (now === "mine") {
        yield* touch(file)
        continue
      }
      const holder = now.text === undefined ? undefined : parseHolder(now.text)
      yield* Deferred.fail(lost, new PipelineLockLost({ pipeline, file, message: lostMessage(pipeline, file, now.text, holder), holder }))
      return
    }
  })

/** A lock held for the rest of the scope. */
export interface Held {
  /**
   * Never succeeds; fails once the lock is no longer ours (another runner took it over, or it was removed).
   * Race the work done under the lock with it (`Effect.raceFirst`), so that work stops before committing more.
   */
  readonly lost: Effect.Effect<never, PipelineLockLost>
}

/**
 * Holds the pipeline's lock for the rest of the scope: fails with a `PipelineLockError` naming the holder
 * when another live runner has it, takes a stale one over, and releases it when the scope closes. Meanwhile
 * it refreshes the lock, and tells through `lost` when it no longer holds it.
 */
export const hold = (stateDir: string, pipeline: string): Effect.Effect<Held, PipelineLockError, Scope.Scope> => {
  const file = lockFile(stateDir, pipeline)
  return Effect.gen(function* () {
    const mine = yield* Effect.acquireRelease(acquire(stateDir, pipeline), (mine) => release(file, mine))
    const lost = yield* Deferred.make<never, PipelineLockLost>()
    yield* Effect.forkScoped(watch(pipeline, file, mine, lost))
    return { lost: Deferred.await(lost) }
  }).pipe(Effect.annotateLogs("pipeline", pipeline))
}
