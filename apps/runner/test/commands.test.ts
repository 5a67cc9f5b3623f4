import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import {
  assertBuilt,
  bin,
  checkpointPath,
  cli,
  generatePipeline,
  generated,
  jsonLines,
  readCheckpoint,
  readNdjson,
  stackLine,
  start,
  tempDir,
  waitFor,
  writeFile
} from "./support.js"

beforeAll(assertBuilt)

const outFile = (dir: string) => path.join(dir, "out", "events.ndjson")

describe("preview", () => {
  it("prints the first N events on stdout as NDJSON and writes nothing", async () => {
    const dir = tempDir()
    writeFile(dir, "pipeline.yaml", generatePipeline({ count: 5000 }))
    const result = await cli(["preview", "pipeline.yaml", "--limit", "7"], { cwd: dir })
    expect(result.code, result.stderr).toBe(0)
    const lines = result.stdout.trimEnd().split("\n").map((line) => JSON.parse(line) as { id: string; timestamp: string })
    expect(lines.map((l) => l.id)).toEqual(generated(7).map((l) => l.id))
    expect(jsonLines(result.stderr).at(-1)).toMatchObject({ message: "preview", shown: 7 })
    expect(fs.readdirSync(dir)).toEqual(["pipeline.yaml"])
  })

  it("starts after the committed cursor and leaves the checkpoint and the output as they were", async () => {
    const dir = tempDir()
    writeFile(dir, "pipeline.yaml", generatePipeline({ count: 1000 }))
    expect((await cli(["run", "pipeline.yaml", "--once"], { cwd: dir })).code).toBe(0)
    // More events in the source: a larger count extends the same sequence.
    writeFile(dir, "pipeline.yaml", generatePipeline({ count: 2000 }))
    const checkpointBefore = fs.readFileSync(checkpointPath(dir), "utf8")
    const outBefore = fs.statSync(outFile(dir)).size
    const result = await cli(["preview", "pipeline.yaml", "-n", "3"], { cwd: dir })
    expect(result.code, result.stderr).toBe(0)
    const ids = result.stdout.trimEnd().split("\n").map((line) => (JSON.parse(line) as { id: string }).id)
    expect(ids).toEqual(generated(1003).slice(1000).map((l) => l.id))
    expect(fs.readFileSync(checkpointPath(dir), "utf8")).toBe(checkpointBefore)
    expect(fs.statSync(outFile(dir)).size).toBe(outBefore)
  })
})

describe("checkpoints", () => {
  it("shows the cursor after a run, refuses a bare --reset, and --reset --pipeline starts the next run over", async () => {
    const dir = tempDir()
    writeFile(dir, "pipeline.yaml", generatePipeline({ count: 3000 }))
    expect((await cli(["run", "pipeline.yaml", "--once"], { cwd: dir })).code).toBe(0)
    const expected = generated(3000)
    const last = { timestamp: expected[2999]!.timestamp, id: expected[2999]!.id }

    const shown = await cli(["checkpoints", "pipeline.yaml"], { cwd: dir })
    expect(shown.code, shown.stderr).toBe(0)
    expect(jsonLines(shown.stderr)).toMatchObject([{ pipeline: "gen", message: "checkpoint", checkpoint: { cursor: last, exported: 3000, deadLettered: 0 } }])

    const bare = await cli(["checkpoints", "pipeline.yaml", "--reset"], { cwd: dir })
    expect(bare.code).toBe(2)
    expect(bare.stderr).toContain("--pipeline NAME")
    expect(bare.stderr).not.toMatch(stackLine)
    expect(readCheckpoint(dir)?.cursor).toEqual(last)

    const unknown = await cli(["checkpoints", "pipeline.yaml", "--reset", "--pipeline", "other"], { cwd: dir })
    expect(unknown.code).toBe(2)
    expect(readCheckpoint(dir)?.cursor).toEqual(last)

    const reset = await cli(["checkpoints", "pipeline.yaml", "--reset", "--pipeline", "gen"], { cwd: dir })
    expect(reset.code, reset.stderr).toBe(0)
    expect(jsonLines(reset.stderr)).toMatchObject([{ pipeline: "gen", message: "reset", removed: true }])
    expect(fs.existsSync(checkpointPath(dir))).toBe(false)

    const none = await cli(["checkpoints", "pipeline.yaml"], { cwd: dir })
    expect(jsonLines(none.stderr)).toMatchObject([{ pipeline: "gen", checkpoint: null }])

    // The next run starts from the beginning: the file sink appends the same 3000 events again.
    expect((await cli(["run", "pipeline.yaml", "--once"], { cwd: dir })).code).toBe(0)
    const lines = readNdjson(outFile(dir))
    expect(lines).toHaveLength(6000)
    expect(lines.slice(3000).map((l) => l.id)).toEqual(expected.map((l) => l.id))
    expect(readCheckpoint(dir)).toMatchObject({ cursor: last, exported: 3000 })
  })
})

describe("run output", () => {
  it("is one JSON object per stderr line when not on a terminal, ending with a done record", async () => {
    const dir = tempDir()
    writeFile(dir, "pipeline.yaml", generatePipeline({ count: 2500 }))
    const result = await cli(["run", "pipeline.yaml", "--once"], { cwd: dir })
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toBe("")
    const records = jsonLines(result.stderr)
    const done = records.at(-1)!
    expect(done).toMatchObject({ pipeline: "gen", message: "done", exported: 2500, deadLettered: 0, batches: 3 })
    expect(typeof done["eventsPerSecond"]).toBe("number")
    expect(done["eventsPerSecond"]).toBeGreaterThan(0)
  })

  it("counts the rows it dead-letters and says where they went", async () => {
    const dir = tempDir()
    writeFile(dir, "pipeline.yaml", generatePipeline({ count: 1000 }).replace("      seed: 7\n", "      seed: 7\n      malformedEvery: 100\n"))
    const result = await cli(["run", "pipeline.yaml", "--once"], { cwd: dir })
    expect(result.code, result.stderr).toBe(0)
    expect(jsonLines(result.stderr).at(-1)).toMatchObject({ message: "done", exported: 990, deadLettered: 10 })
    expect(readNdjson(outFile(dir))).toHaveLength(990)
    const letters = fs.readFileSync(path.join(dir, ".featbit-export", "gen.dead-letter.ndjson"), "utf8").trimEnd().split("\n")
    expect(letters).toHaveLength(10)
  })

  it("stops with exit 1 and a sentence when more rows are dead-lettered than deadLetters allows, committing nothing", async () => {
    const dir = tempDir()
    writeFile(dir, "pipeline.yaml", generatePipeline({ count: 3000 }).replace("      seed: 7\n", "      seed: 7\n      malformedEvery: 2\n") + "    deadLetters: { max: 100, window: 1000 }\n")
    const result = await cli(["run", "pipeline.yaml", "--once"], { cwd: dir })
    expect(result.code).toBe(1)
    const error = jsonLines(result.stderr).find((record) => record["level"] === "error")
    expect(error?.["message"]).toMatch(/^pipeline gen: dead letters: 500 of the last 1000 rows would be dead-lettered, more than deadLetters\.max \(100 per 1000 rows\)/)
    expect(readCheckpoint(dir)).toBeUndefined()
    expect(fs.existsSync(path.join(dir, ".featbit-export", "gen.dead-letter.ndjson"))).toBe(false)
  })

  it("ends a failure that outlived its retries with one error naming the cause, and no runtime noise even in debug logs", async () => {
    const dir = tempDir()
    writeFile(
      dir,
      "pipeline.yaml",
      'pipelines:\n  - name: gen\n    source: { type: clickhouse, url: "http://127.0.0.1:1" }\n    sink: { type: file, path: out.ndjson }\n    retry: { initialDelay: 10ms, maxDelay: 20ms, maxRetries: 2 }\n'
    )
    const result = await cli(["run", "pipeline.yaml", "--once"], { cwd: dir, env: { FEATBIT_EXPORT_LOG_LEVEL: "debug" } })
    expect(result.code).toBe(1)
    const records = jsonLines(result.stderr)
    expect(records.filter((record) => record["level"] === "warn")).toHaveLength(2)
    expect(records.find((record) => record["level"] === "error")?.["message"]).toMatch(
      /^pipeline gen: source clickhouse: cannot connect to ClickHouse at http:\/\/127\.0\.0\.1:1 while reading the server's clock: connection refused \(is the server running\?\); gave up: the retries are used up \(retry\.maxRetries is 2\)$/
    )
    expect(result.stderr).not.toContain("Fiber terminated")
  })

  const hasScript = spawnSync("script", ["--version"]).status === 0
  it.runIf(hasScript)("is a progress line and readable sentences on a terminal", async () => {
    const dir = tempDir()
    writeFile(dir, "pipeline.yaml", generatePipeline({ count: 2000 }))
    // `script` gives the runner a pseudo-terminal (of unknown width, as some CI terminals are).
    const result = spawnSync("script", ["-qfec", `"${process.execPath}" "${bin}" run pipeline.yaml --once`, "/dev/null"], {
      cwd: dir,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 20_000
    })
    expect(result.status, result.stdout + result.stderr).toBe(0)
    const screen = result.stdout
    // The status line: redrawn in place, so erased with "\r\x1b[2K" before the next line.
    const status = screen.split("\r\x1b[2K")[0]!
    expect(status).toMatch(/^gen: [\d,]+ exported, [\d,]+\/s, [\d,]+ dead-lettered/)
    expect(screen).toMatch(/gen: exported 2,000 events, dead-lettered 0, in [\d.]+ s \([\d,]+ events\/s\)/)
    expect(screen).not.toContain('{"time"')
  })
})

describe("check", () => {
  it("says what works, and exits 1 when a sink cannot be used", async () => {
    const dir = tempDir()
    writeFile(dir, "blocker", "a file where a folder should be\n")
    writeFile(dir, "pipeline.yaml", generatePipeline({ count: 10 }) + generatePipeline({ name: "blocked", count: 10, out: "blocker/events.ndjson" }).replace(/^pipelines:\n/, ""))
    const result = await cli(["check", "pipeline.yaml"], { cwd: dir })
    expect(result.code, result.stderr).toBe(1)
    const records = jsonLines(result.stderr)
    expect(records.map((r) => [r["pipeline"], r["side"], r["ok"]])).toEqual([
      ["gen", "source", true],
      ["gen", "sink", true],
      ["blocked", "source", true],
      ["blocked", "sink", false]
    ])
    expect(String(records[3]!["message"])).toContain(`${path.join(dir, "blocker")} is a file, not a folder`)
    expect(result.stderr).not.toMatch(stackLine)
    // check connects and probes; it exports nothing.
    expect(fs.existsSync(outFile(dir)) && fs.statSync(outFile(dir)).size).toBeFalsy()
    expect(fs.existsSync(checkpointPath(dir))).toBe(false)
  })
})

describe("schema", () => {
  it("writes a JSON Schema of pipeline files on stdout, or into --out", async () => {
    const dir = tempDir()
    const result = await cli(["schema"], { cwd: dir })
    expect(result.code, result.stderr).toBe(0)
    const schema = JSON.parse(result.stdout) as { properties: Record<string, unknown>; required: Array<string> }
    expect(schema.properties).toHaveProperty("pipelines")
    expect(schema.required).toContain("pipelines")
    // The plugins' own keys are in it, so editors can complete them.
    expect(result.stdout).toContain('"malformedEvery"')
    expect(result.stdout).toContain('"maxBytes"')

    const written = await cli(["schema", "--out", "pipeline.schema.json"], { cwd: dir })
    expect(written.code, written.stderr).toBe(0)
    expect(JSON.parse(fs.readFileSync(path.join(dir, "pipeline.schema.json"), "utf8"))).toEqual(schema)
  })
})

describe("a reader that goes away", () => {
  it("preview piped into a reader that stops early (`| head`) ends quietly with 0", async () => {
    const dir = tempDir()
    writeFile(dir, "pipeline.yaml", generatePipeline({ count: 20_000 }))
    const run = start(["preview", "pipeline.yaml", "--limit", "20000"], { cwd: dir })
    await waitFor("the first events", () => (run.stdout().length > 0 ? true : undefined))
    run.child.stdout!.destroy()
    const end = await run.finished
    expect(end.stderr).not.toMatch(stackLine)
    expect(end.code, end.stderr).toBe(0)
  })

  it("a run whose log reader is gone still exports everything and exits 0", async () => {
    const dir = tempDir()
    writeFile(dir, "pipeline.yaml", generatePipeline({ count: 5000 }))
    const run = start(["run", "pipeline.yaml", "--once"], { cwd: dir })
    run.child.stderr!.destroy()
    const end = await run.finished
    expect(end.code).toBe(0)
    expect(readCheckpoint(dir)?.exported).toBe(5000)
    expect(readNdjson(outFile(dir))).toHaveLength(5000)
  })
})

describe("help", () => {
  const commands = ["run", "validate", "check", "preview", "checkpoints", "schema", "plugin"]

  it("<command> --help and help <command> print that command's own text, not the overview", async () => {
    const dir = tempDir()
    const [overview, helpRun, helpUnknown, ...asked] = await Promise.all(
      [["--help"], ["help", "run"], ["help", "frobnicate"], ...commands.map((command) => [command, "--help"])].map((argv) => cli(argv, { cwd: dir }))
    )
    expect(overview!.stdout).toContain("Usage:")
    commands.forEach((command, i) => {
      const own = asked[i]!
      expect(own.code, command).toBe(0)
      expect(own.stdout.startsWith(`featbit-export ${command}`), own.stdout).toBe(true)
      expect(own.stdout).not.toBe(overview!.stdout)
    })
    // Each command says something of its own.
    expect(new Set(asked.map((r) => r.stdout)).size).toBe(commands.length)
    expect(helpRun!.stdout).toBe(asked[0]!.stdout)
    // An unknown command asked about gets the overview.
    expect(helpUnknown!.stdout).toBe(overview!.stdout)
  })
})

describe("--log-format", () => {
  it("text off a terminal: readable lines without terminal control codes; json on request; a wrong value is refused", async () => {
    const dir = tempDir()
    writeFile(dir, "pipeline.yaml", generatePipeline({ count: 2000 }))
    const text = await cli(["run", "pipeline.yaml", "--once", "--log-format", "text"], { cwd: dir })
    expect(text.code, text.stderr).toBe(0)
    expect(text.stderr).toMatch(/^gen: exported 2,000 events/m)
    expect(text.stderr).not.toContain("{")
    expect(text.stderr).not.toContain("\x1b")
    const fromEnv = await cli(["checkpoints", "pipeline.yaml"], { cwd: dir, env: { FEATBIT_EXPORT_LOG_FORMAT: "text" } })
    expect(fromEnv.stderr).toMatch(/^gen: cursor \(/)
    const json = await cli(["checkpoints", "pipeline.yaml", "--log-format", "json"], { cwd: dir, env: { FEATBIT_EXPORT_LOG_FORMAT: "text" } })
    expect(jsonLines(json.stderr)[0]).toMatchObject({ level: "info", pipeline: "gen", checkpoint: { exported: 2000 } })
    const wrong = await cli(["checkpoints", "pipeline.yaml", "--log-format", "yaml"], { cwd: dir })
    expect(wrong.code).toBe(2)
    expect(jsonLines(wrong.stderr)[0]!["message"]).toBe("featbit-export: --log-format must be text or json, not yaml")
  })
})
