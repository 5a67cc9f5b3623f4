import * as fs from "node:fs"
import { describe, expect, it } from "vitest"
import { type SinkLog, registryWith, runMain } from "./in-process.js"
import { generated, jsonLines, lockPath, readCheckpoint, tempDir, waitFor, writeFile } from "./support.js"

// A slow destination makes the moment of the signal certain: it arrives while batch 2 is being written.
const pipeline = `pipelines:
  - name: gen
    source: { type: generate, count: 6000, seed: 3 }
    sink: { type: vault, writeKey: "k" }
    batch: { size: 1000, inFlight: 1 }
`

/** Delivers a signal to the runner's handlers in this process (they are the only ones: vitest has none). */
const signal = (name: "SIGINT" | "SIGTERM") => {
  expect(process.listeners(name).length).toBeGreaterThan(0)
  process.emit(name)
}

describe("signals, in process with a slow sink", () => {
  /** Runs until batch 2 is being written, sends SIGINT, then lets that write finish. */
  const interruptDuringBatch2 = async () => {
    const dir = tempDir()
    const file = writeFile(dir, "pipeline.yaml", pipeline)
    const log: SinkLog = { writeKeys: [], attempts: [] }
    let release!: () => void
    const until = new Promise<void>((resolve) => (release = resolve))
    const running = runMain(["run", file], registryWith(log, { holdAt: 2, until }))
    await waitFor("the write of batch 2", () => (log.attempts.includes(2) ? true : undefined))
    signal("SIGINT")
    release()
    return { dir, log, result: await running }
  }

  it("a first SIGINT lets the batch being written finish, commits everything acknowledged and exits 0", async () => {
    const { dir, log, result } = await interruptDuringBatch2()
    expect(result.code, result.stderr).toBe(0)
    // Every write this sink was asked for was acknowledged, so every one of them is committed.
    const acknowledged = new Set(log.attempts).size
    expect(acknowledged).toBeGreaterThanOrEqual(3)
    const last = generated(acknowledged * 1000, 3)[acknowledged * 1000 - 1]!
    expect(readCheckpoint(dir)).toMatchObject({ cursor: { timestamp: last.timestamp, id: last.id }, exported: acknowledged * 1000 })
    expect(jsonLines(result.stderr).at(-1)).toMatchObject({ message: "done", exported: acknowledged * 1000 })
    expect(fs.existsSync(lockPath(dir))).toBe(false)
    expect(process.listeners("SIGINT")).toHaveLength(0)
  })

  it("after a first SIGINT, no batch is written that was not already being written", async () => {
    // Pages read ahead of the sink are not in flight: writing them only delays the stop (by a write each).
    const { log, result } = await interruptDuringBatch2()
    expect(result.code, result.stderr).toBe(0)
    expect(log.attempts).toEqual([0, 1, 2])
  })

  it("a second signal abandons the batch in flight, keeps the last commit, gives the lock back and exits 1", async () => {
    const dir = tempDir()
    const file = writeFile(dir, "pipeline.yaml", pipeline)
    const log: SinkLog = { writeKeys: [], attempts: [] }
    // The write of batch 2 never finishes: only abandoning it ends the run.
    const running = runMain(["run", file], registryWith(log, { holdAt: 2 }))
    await waitFor("the write of batch 2", () => (log.attempts.includes(2) ? true : undefined))
    signal("SIGTERM")
    await waitFor("the stop to be acknowledged", () => (readCheckpoint(dir)?.exported === 2000 ? true : undefined))
    signal("SIGTERM")
    const result = await running
    expect(result.code, result.stderr).toBe(1)
    expect(jsonLines(result.stderr).map((r) => r["message"])).toEqual(expect.arrayContaining(["stopping", "abandoned"]))
    expect(readCheckpoint(dir)?.exported).toBe(2000)
    expect(fs.existsSync(lockPath(dir))).toBe(false)
    expect(process.listeners("SIGTERM")).toHaveLength(0)
  })
})
