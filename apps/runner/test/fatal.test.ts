import * as fs from "node:fs"
import * as path from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { type SinkLog, registryWith, runMain } from "./in-process.js"
import { assertBuilt, cli, generatePipeline, generated, jsonLines, lockPath, readCheckpoint, stackLine, tempDir, writeFile } from "./support.js"

beforeAll(assertBuilt)

describe("a fatal sink error, in the real runner process", () => {
  const cases = [
    {
      name: "the sink's folder is a regular file (ENOTDIR)",
      prepare: (dir: string) => writeFile(dir, "blocker", "not a folder\n"),
      out: "blocker/events.ndjson",
      says: (dir: string) => [`${path.join(dir, "blocker")} is a file, not a folder`]
    },
    {
      name: "the sink's file is a folder (EISDIR)",
      prepare: (dir: string) => fs.mkdirSync(path.join(dir, "events.ndjson")),
      out: "events.ndjson",
      says: (dir: string) => [`${path.join(dir, "events.ndjson")}: it is a folder, not a file`]
    }
  ]

  it.each(cases)("$name: exits 1 with one sentence naming the pipeline and the path", async ({ prepare, out, says }) => {
    const dir = tempDir()
    prepare(dir)
    writeFile(dir, "pipeline.yaml", generatePipeline({ name: "orders", count: 1000, out }))
    const result = await cli(["run", "pipeline.yaml", "--once"], { cwd: dir })
    expect(result.code, result.stderr).toBe(1)
    expect(result.stderr).not.toMatch(stackLine)
    const errors = jsonLines(result.stderr).filter((record) => record["level"] === "error")
    expect(errors).toHaveLength(1)
    const message = String(errors[0]!["message"])
    expect(message).toMatch(/^pipeline orders: /)
    for (const text of says(dir)) expect(message).toContain(text)
    expect(message).not.toContain("\n")
    expect(readCheckpoint(dir, "orders")).toBeUndefined()
    expect(fs.existsSync(lockPath(dir, "orders"))).toBe(false)
  })

  it("with --fail-fast, stops the other pipelines of the run gracefully, committing what they delivered", async () => {
    const dir = tempDir()
    writeFile(dir, "blocker", "not a folder\n")
    const good = generatePipeline({ name: "good", count: 3000, out: "out/" })
    const blocked = generatePipeline({ name: "blocked", count: 1000, out: "blocker/events.ndjson" }).replace(/^pipelines:\n/, "")
    writeFile(dir, "pipeline.yaml", good + blocked)
    // Follow mode: without the failure of "blocked" and --fail-fast, "good" would never stop.
    const result = await cli(["run", "pipeline.yaml", "--fail-fast"], { cwd: dir })
    expect(result.code, result.stderr).toBe(1)
    const records = jsonLines(result.stderr)
    expect(records.filter((r) => r["level"] === "error").map((r) => r["pipeline"])).toEqual(["blocked"])
    const done = records.find((r) => r["message"] === "done")
    expect(done).toMatchObject({ pipeline: "good" })
    const lines = fs.existsSync(path.join(dir, "out", "good.ndjson")) ? fs.readFileSync(path.join(dir, "out", "good.ndjson"), "utf8").split("\n").length - 1 : 0
    expect(readCheckpoint(dir, "good")?.exported ?? 0).toBe(lines)
    expect(fs.readdirSync(path.join(dir, ".featbit-export")).filter((name) => name.endsWith(".lock"))).toEqual([])
  })

  it("follow mode stops too, rather than retrying a path that cannot work", async () => {
    const dir = tempDir()
    writeFile(dir, "blocker", "not a folder\n")
    writeFile(dir, "pipeline.yaml", generatePipeline({ name: "orders", count: 1000, out: "blocker/events.ndjson" }))
    const result = await cli(["run", "pipeline.yaml"], { cwd: dir })
    expect(result.code, result.stderr).toBe(1)
  })
})

describe("a sink failing in the middle of a run", () => {
  const pipeline = () => `pipelines:
  - name: vaulted
    source: { type: generate, count: 5000, seed: 3 }
    sink: { type: vault, writeKey: "vault-key-1" }
    batch: { size: 1000, inFlight: 1 }
    retry: { initialDelay: 1ms, maxDelay: 5ms, maxRetries: 3 }
`

  it("stops at a fatal error without retrying, keeping the cursor of the last acknowledged batch", async () => {
    const dir = tempDir()
    const file = writeFile(dir, "pipeline.yaml", pipeline())
    const log: SinkLog = { writeKeys: [], attempts: [] }
    const result = await runMain(["run", file, "--once"], registryWith(log, { failAt: 3 }))
    expect(result.code, result.stderr).toBe(1)
    expect(log.attempts).toEqual([0, 1, 2, 3])
    const errors = jsonLines(result.stderr).filter((record) => record["level"] === "error")
    expect(errors).toHaveLength(1)
    expect(errors[0]!["message"]).toBe("pipeline vaulted: sink vault: the destination refused the write key (401); check writeKey")
    const third = generated(3000, 3)[2999]!
    expect(readCheckpoint(dir, "vaulted")).toMatchObject({ cursor: { timestamp: third.timestamp, id: third.id }, exported: 3000 })
    expect(result.stderr).not.toMatch(stackLine)
  })

  it("retries a transient error and goes on", async () => {
    const dir = tempDir()
    const file = writeFile(dir, "pipeline.yaml", pipeline())
    const log: SinkLog = { writeKeys: [], attempts: [] }
    const result = await runMain(["run", file, "--once"], registryWith(log, { failAt: 1, transientTimes: 2 }))
    expect(result.code, result.stderr).toBe(0)
    expect(log.attempts).toEqual([0, 1, 1, 1, 2, 3, 4])
    const records = jsonLines(result.stderr)
    expect(records.filter((r) => r["level"] === "warn").map((r) => r["message"])).toEqual([
      "sink vault: the destination is busy (503); retrying",
      "sink vault: the destination is busy (503); retrying"
    ])
    expect(records.at(-1)).toMatchObject({ message: "done", exported: 5000, retries: 2 })
  })

  it("stops once the retries are used up, saying why", async () => {
    const dir = tempDir()
    const file = writeFile(dir, "pipeline.yaml", pipeline())
    const log: SinkLog = { writeKeys: [], attempts: [] }
    const result = await runMain(["run", file, "--once"], registryWith(log, { failAt: 2, transientTimes: 100 }))
    expect(result.code, result.stderr).toBe(1)
    // The first attempt and maxRetries retries.
    expect(log.attempts.filter((sequence) => sequence === 2)).toHaveLength(4)
    const errors = jsonLines(result.stderr).filter((record) => record["level"] === "error")
    expect(errors.map((r) => r["message"])).toEqual([
      "pipeline vaulted: sink vault: the destination is busy (503); gave up: the retries are used up (retry.maxRetries is 3)"
    ])
    expect(readCheckpoint(dir, "vaulted")?.exported).toBe(2000)
  })
})
