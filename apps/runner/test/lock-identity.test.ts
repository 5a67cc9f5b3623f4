import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterEach, beforeAll, describe, expect, it } from "vitest"
import { type LockHolder, judge, lookUp, parseProcStat, selfIdentity } from "../src/PipelineLock.js"
import { assertBuilt, cli, generatePipeline, jsonLines, lockPath, readCheckpoint, sleep, stackLine, start, tempDir, waitFor, writeFile } from "./support.js"

beforeAll(assertBuilt)

// The identity rules need Linux's /proc; elsewhere the lock keeps the pid-and-age rules the other tests cover.
const linux = fs.existsSync("/proc/self/stat") && fs.existsSync("/proc/sys/kernel/random/boot_id")

const bootId = (): string => fs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim()

/** Processes a test started (the runners it stopped among them): continued and killed after it, whatever happened. */
const children: Array<ChildProcess> = []
afterEach(() => {
  for (const child of children.splice(0)) {
    if (child.exitCode !== null || child.signalCode !== null) continue
    child.kill("SIGCONT")
    child.kill("SIGKILL")
  }
})

/** A live process that is no runner: `sleep`. */
const unrelatedProcess = async (): Promise<{ readonly pid: number; readonly startTime: number }> => {
  const child = spawn("sleep", ["60"], { stdio: "ignore" })
  children.push(child)
  const pid = child.pid!
  const startTime = await waitFor("sleep to show in /proc", () => parseProcStat(fs.readFileSync(`/proc/${pid}/stat`, "utf8"))?.startTime)
  return { pid, startTime }
}

const writeLock = (dir: string, holder: LockHolder): string => writeFile(dir, ".featbit-export/gen.lock", JSON.stringify(holder) + "\n")

const errorMessages = (stderr: string): Array<string> => jsonLines(stderr).filter((r) => r["level"] === "error").map((r) => String(r["message"]))

const lineCount = (file: string): number => (fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").length - 1 : 0)

/** A follow-mode pipeline whose source produces `rate` events a second, `count` in all. */
const slowPipeline = (count: number, rate: number, batch: number): string =>
  generatePipeline({ count, batch, extra: "    pollInterval: 100ms\n" }).replace(`count: ${count}`, `count: ${count}\n      rate: ${rate}/s`)

describe.runIf(linux)("judge: a lock's holder, told apart by boot id and start time", () => {
  const here = () => selfIdentity()
  const holderOf = (identity: Partial<LockHolder>): LockHolder => ({ host: os.hostname(), since: new Date().toISOString(), bootId: bootId(), pid: 0, ...identity })
  const hour = 3_600_000

  it("this process's identity is its pid, host, boot id and the start time /proc gives", () => {
    const stat = parseProcStat(fs.readFileSync(`/proc/${process.pid}/stat`, "utf8"))!
    expect(here()).toEqual({ pid: process.pid, host: os.hostname(), bootId: bootId(), startTime: stat.startTime })
  })

  it("parses /proc/<pid>/stat with spaces and parentheses in the command name", () => {
    const rest = Array.from({ length: 30 }, (_, i) => String(i + 3))
    rest[0] = "S"
    rest[22 - 3] = "8675309"
    expect(parseProcStat(`4242 (a) b (c)) d) ${rest.join(" ")}\n`)).toEqual({ pid: 4242, state: "S", startTime: 8675309 })
    expect(parseProcStat("4242 no parentheses")).toBeUndefined()
    expect(parseProcStat("4242 (short) S 1 2")).toBeUndefined()
  })

  it("same pid and same start time: live, however long the lock was not touched (a paused holder)", async () => {
    const other = await unrelatedProcess()
    expect(judge(holderOf(other), 0)).toEqual({ _tag: "Live" })
    expect(judge(holderOf(other), hour)).toEqual({ _tag: "Live" })
  })

  it("same pid, another start time: stale at once (the pid was reused)", async () => {
    const other = await unrelatedProcess()
    const verdict = judge(holderOf({ pid: other.pid, startTime: other.startTime + 1 }), 0)
    expect(verdict).toEqual({ _tag: "Stale", reason: `pid ${other.pid} now belongs to another process` })
  })

  it("our own pid in a lock we did not take: stale at once (pid 1 again in a restarted container)", () => {
    expect(judge(holderOf({ pid: process.pid, startTime: here().startTime! - 100 }), 0)._tag).toBe("Stale")
  })

  it("a pid no process has: stale at once", async () => {
    const gone = spawn(process.execPath, ["-e", ""], { stdio: "ignore" })
    const pid = gone.pid!
    await new Promise((resolve) => gone.on("close", resolve))
    expect(lookUp(pid).exists).toBe(false)
    expect(judge(holderOf({ pid, startTime: 1 }), 0)._tag).toBe("Stale")
  })

  it("another boot id, or another host: judged by age alone", async () => {
    const other = await unrelatedProcess()
    const rebooted = holderOf({ ...other, bootId: "00000000-0000-0000-0000-000000000000" })
    expect(judge(rebooted, 1000, { staleAfterMs: 60_000 })._tag).toBe("Live")
    expect(judge(rebooted, 61_000, { staleAfterMs: 60_000 })._tag).toBe("Stale")
    const remote = holderOf({ pid: 1, host: "elsewhere.example", startTime: 1 })
    expect(judge(remote, 1000, { staleAfterMs: 60_000 })._tag).toBe("Live")
    expect(judge(remote, 61_000, { staleAfterMs: 60_000 })._tag).toBe("Stale")
  })

  it("an old lock without start time keeps the old rules: live pid and refreshed = live, else stale", async () => {
    const other = await unrelatedProcess()
    const old: LockHolder = { pid: other.pid, host: os.hostname(), since: new Date().toISOString() }
    expect(judge(old, 1000, { staleAfterMs: 60_000 })._tag).toBe("Live")
    expect(judge(old, 61_000, { staleAfterMs: 60_000 })._tag).toBe("Stale")
    expect(judge(undefined, 0)._tag).toBe("Stale")
  })

  it("the identities given decide, not this process's (a vantage from a test)", () => {
    const me = { pid: 10, host: "h", bootId: "b", startTime: 5 }
    const holder: LockHolder = { pid: 20, host: "h", bootId: "b", startTime: 7, since: "" }
    const running = (startTime: number) => () => ({ exists: true, startTime })
    expect(judge(holder, hour, { here: me, lookUp: running(7) })._tag).toBe("Live")
    expect(judge(holder, 0, { here: me, lookUp: running(8) })._tag).toBe("Stale")
    expect(judge(holder, 0, { here: { ...me, bootId: "c" }, lookUp: running(8), staleAfterMs: 1000 })._tag).toBe("Live")
    expect(judge(holder, 2000, { here: { ...me, bootId: "c" }, lookUp: running(7), staleAfterMs: 1000 })._tag).toBe("Stale")
  })
})

describe.runIf(linux)("the lock of a live process, in the real runner", () => {
  it("a runner paused (SIGSTOP) past the staleness threshold keeps its pipeline; resumed, it finishes, each event once", async () => {
    const dir = tempDir()
    const count = 6000
    writeFile(dir, "pipeline.yaml", slowPipeline(count, 2000, 250))
    const env = { FEATBIT_EXPORT_LOCK_STALE_MS: "1500", FEATBIT_EXPORT_LOCK_REFRESH_MS: "300" }
    const first = start(["run", "pipeline.yaml"], { cwd: dir, env })
    children.push(first.child)
    await waitFor("the first runner to export a batch", () => ((readCheckpoint(dir)?.exported ?? 0) > 0 ? true : undefined))
    first.child.kill("SIGSTOP")
    const stoppedAt = Date.now()
    await sleep(2500)
    const age = Date.now() - fs.statSync(lockPath(dir)).mtimeMs
    expect(age).toBeGreaterThan(1500)

    // Before: the lock was untouched past the threshold, so this runner took it over and wrote every event again.
    const second = await cli(["run", "pipeline.yaml", "--once"], { cwd: dir, env })
    expect(second.code, second.stderr).toBe(1)
    expect(second.stderr).not.toMatch(stackLine)
    const messages = errorMessages(second.stderr)
    expect(messages).toHaveLength(1)
    expect(messages[0]).toContain("pipeline gen is already running")
    expect(messages[0]).toContain(`process ${first.pid} since`)
    expect(JSON.parse(fs.readFileSync(lockPath(dir), "utf8"))).toMatchObject({ pid: first.pid })

    first.child.kill("SIGCONT")
    const pausedMs = Date.now() - stoppedAt
    await waitFor("the first runner to finish", () => (readCheckpoint(dir)?.exported === count ? true : undefined))
    first.child.kill("SIGTERM")
    const end = await first.finished
    expect(end.code, end.stderr).toBe(0)
    expect(end.stderr).not.toContain("lost its lock")
    const ids = fs.readFileSync(path.join(dir, "out", "events.ndjson"), "utf8").trimEnd().split("\n").map((line) => (JSON.parse(line) as { id: string }).id)
    expect(ids).toHaveLength(count)
    expect(new Set(ids).size).toBe(count)
    expect(fs.existsSync(lockPath(dir))).toBe(false)
    console.log(`paused ${pausedMs} ms with the lock untouched for ${Math.round(age)} ms: not taken over`)
  })

  it("a lock naming a live pid with another start time (a reused pid) is taken over at once, with a warning", async () => {
    const dir = tempDir()
    writeFile(dir, "pipeline.yaml", generatePipeline({ count: 1000 }))
    const other = await unrelatedProcess()
    writeLock(dir, { pid: other.pid, host: os.hostname(), since: new Date().toISOString(), bootId: bootId(), startTime: other.startTime - 1 })
    const began = Date.now()
    const run = start(["run", "pipeline.yaml", "--once"], { cwd: dir })
    const warned = await waitFor("the takeover warning", () => (run.stderr().includes("took over") ? Date.now() - began : undefined))
    const end = await run.finished
    const tookMs = Date.now() - began
    expect(end.code, end.stderr).toBe(0)
    const warning = jsonLines(end.stderr).find((r) => r["level"] === "warn" && String(r["message"]).includes("took over"))
    expect(String(warning?.["message"])).toContain(`left by process ${other.pid}, which no longer runs (pid ${other.pid} now belongs to another process)`)
    expect(readCheckpoint(dir)?.exported).toBe(1000)
    expect(warned).toBeLessThan(2000)
    console.log(`reused pid: took over ${warned} ms after start, run done in ${tookMs} ms`)
  })

  it("the same lock with the process's real start time is respected", async () => {
    const dir = tempDir()
    writeFile(dir, "pipeline.yaml", generatePipeline({ count: 1000 }))
    const other = await unrelatedProcess()
    writeLock(dir, { pid: other.pid, host: os.hostname(), since: new Date().toISOString(), bootId: bootId(), startTime: other.startTime })
    // Untouched for an hour: on this host, age does not matter.
    fs.utimesSync(lockPath(dir), new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000))
    const run = await cli(["run", "pipeline.yaml", "--once"], { cwd: dir })
    expect(run.code, run.stderr).toBe(1)
    expect(errorMessages(run.stderr)[0]).toContain(`pipeline gen is already running in process ${other.pid} since`)
    expect(fs.existsSync(path.join(dir, "out"))).toBe(false)
  })
})

describe.runIf(linux)("a runner whose lock was taken by another", () => {
  const takeOver = async (dir: string) => {
    const other = await unrelatedProcess()
    writeLock(dir, { pid: other.pid, host: os.hostname(), since: new Date().toISOString(), bootId: bootId(), startTime: other.startTime })
    return other
  }
  const lostSentence = (dir: string, pid: number) =>
    `pipeline gen lost its lock ${lockPath(dir)} to process ${pid} (host ${os.hostname()}): another runner took it over; stopping without committing more`

  it("stops at its next refresh with one sentence and exit code 1, leaving the other's lock", async () => {
    const dir = tempDir()
    const out = path.join(dir, "out", "events.ndjson")
    writeFile(dir, "pipeline.yaml", slowPipeline(200_000, 2000, 100))
    const run = start(["run", "pipeline.yaml"], { cwd: dir, env: { FEATBIT_EXPORT_LOCK_REFRESH_MS: "200" } })
    children.push(run.child)
    await waitFor("a few batches", () => ((readCheckpoint(dir)?.exported ?? 0) >= 500 ? true : undefined))
    const other = await takeOver(dir)
    const replacedAt = Date.now()
    const linesThen = lineCount(out)
    const end = await run.finished
    const stoppedMs = Date.now() - replacedAt
    const linesAtEnd = lineCount(out)
    expect(end.code, end.stderr).toBe(1)
    expect(end.stderr).not.toMatch(stackLine)
    const messages = errorMessages(end.stderr)
    expect(messages.at(-1)).toBe(lostSentence(dir, other.pid))
    // At most what a refresh interval (200 ms, at 2000 events a second) let through, and nothing after the exit.
    expect(linesAtEnd - linesThen).toBeLessThanOrEqual(1000)
    expect(readCheckpoint(dir)!.exported).toBeLessThanOrEqual(linesAtEnd)
    await sleep(500)
    expect(lineCount(out)).toBe(linesAtEnd)
    expect(JSON.parse(fs.readFileSync(lockPath(dir), "utf8"))).toMatchObject({ pid: other.pid })
    expect(stoppedMs).toBeLessThan(2000)
    console.log(`lock replaced: stopped ${stoppedMs} ms later, ${linesAtEnd - linesThen} lines written meanwhile; ${messages.length} error records`)
  })

  it("taken over while it was paused, it checks as soon as it resumes and commits nothing more", async () => {
    const dir = tempDir()
    const out = path.join(dir, "out", "events.ndjson")
    writeFile(dir, "pipeline.yaml", slowPipeline(200_000, 2000, 100))
    const run = start(["run", "pipeline.yaml"], { cwd: dir, env: { FEATBIT_EXPORT_LOCK_REFRESH_MS: "300" } })
    children.push(run.child)
    await waitFor("a few batches", () => ((readCheckpoint(dir)?.exported ?? 0) >= 500 ? true : undefined))
    run.child.kill("SIGSTOP")
    await sleep(100)
    const other = await takeOver(dir)
    await sleep(600)
    const linesThen = lineCount(out)
    const committedThen = readCheckpoint(dir)!.exported
    const resumedAt = Date.now()
    run.child.kill("SIGCONT")
    const end = await run.finished
    const stoppedMs = Date.now() - resumedAt
    expect(end.code, end.stderr).toBe(1)
    expect(errorMessages(end.stderr).at(-1)).toBe(lostSentence(dir, other.pid))
    // Only what was already on its way to the file when it was stopped (batches of 100, 4 in flight).
    const written = lineCount(out) - linesThen
    const committed = readCheckpoint(dir)!.exported - committedThen
    expect(written).toBeLessThanOrEqual(500)
    expect(committed).toBeLessThanOrEqual(100)
    expect(stoppedMs).toBeLessThan(1500)
    console.log(`resumed: stopped ${stoppedMs} ms later, ${written} lines written and ${committed} committed after the resume`)
  })
})
