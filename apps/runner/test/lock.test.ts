import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import {
  assertBuilt,
  checkpointPath,
  cli,
  generatePipeline,
  jsonLines,
  lockPath,
  readCheckpoint,
  readNdjson,
  stackLine,
  start,
  tempDir,
  waitFor,
  writeFile
} from "./support.js"

beforeAll(assertBuilt)

/** A pid that belonged to a process that has ended. */
const deadPid = (): number => {
  const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" })
  return Number(child.stdout)
}

const errorRecords = (stderr: string) => jsonLines(stderr).filter((record) => record["level"] === "error")

/** Starts a follow-mode runner and waits until it has caught up (it then holds the lock and waits). */
const startCaughtUp = async (dir: string, count: number, args: ReadonlyArray<string> = [], pipeline = "gen") => {
  const run = start(["run", "pipeline.yaml", ...args], { cwd: dir })
  await waitFor("the first runner to catch up", () => (readCheckpoint(dir, pipeline)?.exported === count ? true : undefined))
  return run
}

describe("two runners on the same pipeline and state folder", () => {
  it("the second exits 1 naming the pipeline and the pid that holds it, and exports nothing", async () => {
    const dir = tempDir()
    writeFile(dir, "pipeline.yaml", generatePipeline({ count: 2000 }))
    const first = await startCaughtUp(dir, 2000)
    const lock = JSON.parse(fs.readFileSync(lockPath(dir), "utf8")) as { pid: number }
    expect(lock.pid).toBe(first.pid)

    // Started from the beginning with its own state folder view, it would write all 2000 events again.
    fs.rmSync(checkpointPath(dir))
    const second = await cli(["run", "pipeline.yaml", "--once"], { cwd: dir })
    expect(second.code, second.stderr).toBe(1)
    expect(second.stderr).not.toMatch(stackLine)
    const errors = errorRecords(second.stderr)
    expect(errors).toHaveLength(1)
    const message = String(errors[0]!["message"])
    expect(message).toContain("pipeline gen is already running")
    expect(message).toContain(`process ${first.pid}`)
    expect(message).not.toContain("\n")
    expect(readNdjson(path.join(dir, "out", "events.ndjson"))).toHaveLength(2000)
    expect(readCheckpoint(dir)).toBeUndefined()

    first.child.kill("SIGTERM")
    expect((await first.finished).code).toBe(0)
    expect(fs.existsSync(lockPath(dir))).toBe(false)
    // Once the first runner is gone, the pipeline runs again.
    const third = await cli(["run", "pipeline.yaml", "--once"], { cwd: dir })
    expect(third.code, third.stderr).toBe(0)
  })

  it("resetting the checkpoint of a running pipeline is refused, naming the runner", async () => {
    const dir = tempDir()
    writeFile(dir, "pipeline.yaml", generatePipeline({ count: 1500 }))
    const first = await startCaughtUp(dir, 1500)
    const reset = await cli(["checkpoints", "pipeline.yaml", "--reset", "--pipeline", "gen"], { cwd: dir })
    expect(reset.code, reset.stderr).toBe(1)
    expect(String(errorRecords(reset.stderr)[0]?.["message"])).toContain(`process ${first.pid}`)
    expect(readCheckpoint(dir)?.exported).toBe(1500)
    first.child.kill("SIGTERM")
    expect((await first.finished).code).toBe(0)
  })

  it("locks each pipeline on its own: another pipeline of the same file runs meanwhile", async () => {
    const dir = tempDir()
    const a = generatePipeline({ name: "a", count: 1000, out: "out/" })
    const b = generatePipeline({ name: "b", count: 1000, out: "out/" }).replace(/^pipelines:\n/, "")
    writeFile(dir, "pipeline.yaml", a + b)
    const first = await startCaughtUp(dir, 1000, ["--pipeline", "a"], "a")
    const other = await cli(["run", "pipeline.yaml", "--once", "--pipeline", "b"], { cwd: dir })
    expect(other.code, other.stderr).toBe(0)
    expect(readNdjson(path.join(dir, "out", "b.ndjson"))).toHaveLength(1000)
    first.child.kill("SIGTERM")
    expect((await first.finished).code).toBe(0)
  })
})

describe("a stale lock", () => {
  const writeLock = (dir: string, holder: object, ageMs = 0) => {
    const file = writeFile(dir, ".featbit-export/gen.lock", JSON.stringify(holder) + "\n")
    if (ageMs > 0) fs.utimesSync(file, new Date(Date.now() - ageMs), new Date(Date.now() - ageMs))
    return file
  }

  it("is taken over when its process has ended, and released after the run", async () => {
    const dir = tempDir()
    writeFile(dir, "pipeline.yaml", generatePipeline({ count: 1000 }))
    const pid = deadPid()
    writeLock(dir, { pid, host: os.hostname(), since: new Date().toISOString() })
    const run = await cli(["run", "pipeline.yaml", "--once"], { cwd: dir })
    expect(run.code, run.stderr).toBe(0)
    expect(jsonLines(run.stderr).some((r) => r["level"] === "warn" && String(r["message"]).includes(`process ${pid}, which no longer runs`))).toBe(true)
    expect(readCheckpoint(dir)?.exported).toBe(1000)
    expect(fs.existsSync(lockPath(dir))).toBe(false)
  })

  it("is taken over by exactly one of several runners started at once", async () => {
    const dir = tempDir()
    writeFile(dir, "pipeline.yaml", generatePipeline({ count: 1000 }))
    writeLock(dir, { pid: deadPid(), host: os.hostname(), since: new Date().toISOString() })
    const runs = [1, 2, 3].map(() => start(["run", "pipeline.yaml"], { cwd: dir }))
    // Two give up; the third keeps following (in follow mode it never exits by itself).
    await waitFor("two runners to give up", () => (runs.filter((run) => run.child.exitCode !== null).length >= 2 ? true : undefined))
    const still = runs.filter((run) => run.child.exitCode === null)
    expect(still).toHaveLength(1)
    const winner = still[0]!
    for (const run of runs.filter((r) => r !== winner)) {
      const end = await run.finished
      expect(end.code, end.stderr).toBe(1)
      expect(String(errorRecords(end.stderr)[0]?.["message"])).toContain(`process ${winner.pid}`)
    }
    await waitFor("the winner to catch up", () => (readCheckpoint(dir)?.exported === 1000 ? true : undefined))
    winner.child.kill("SIGTERM")
    expect((await winner.finished).code).toBe(0)
    expect(readNdjson(path.join(dir, "out", "events.ndjson"))).toHaveLength(1000)
    expect(fs.readdirSync(path.join(dir, ".featbit-export")).filter((name) => name.includes(".lock"))).toEqual([])
  })

  it("from another host is respected while it is refreshed, and taken over once it is not", async () => {
    const dir = tempDir()
    writeFile(dir, "pipeline.yaml", generatePipeline({ count: 1000 }))
    const holder = { pid: process.pid, host: "elsewhere.example", since: new Date().toISOString() }
    writeLock(dir, holder)
    const refused = await cli(["run", "pipeline.yaml", "--once"], { cwd: dir })
    expect(refused.code, refused.stderr).toBe(1)
    expect(String(errorRecords(refused.stderr)[0]?.["message"])).toContain(`process ${process.pid} on host elsewhere.example`)

    writeLock(dir, holder, 5 * 60_000)
    const run = await cli(["run", "pipeline.yaml", "--once"], { cwd: dir })
    expect(run.code, run.stderr).toBe(0)
    expect(readCheckpoint(dir)?.exported).toBe(1000)
  })

  it("held by a live process on this host is respected", async () => {
    const dir = tempDir()
    writeFile(dir, "pipeline.yaml", generatePipeline({ count: 1000 }))
    // The test's own process is alive, and is not the runner.
    writeLock(dir, { pid: process.pid, host: os.hostname(), since: new Date().toISOString() })
    const run = await cli(["run", "pipeline.yaml", "--once"], { cwd: dir })
    expect(run.code, run.stderr).toBe(1)
    expect(String(errorRecords(run.stderr)[0]?.["message"])).toContain(`process ${process.pid} since`)
    expect(fs.existsSync(path.join(dir, "out"))).toBe(false)
  })
})
