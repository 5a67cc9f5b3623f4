// The runner on an embedded ClickHouse (chDB) whose rows are stamped near now: what a person sees of the
// horizon, late rows and a changed selection. Each chDB opening happens in a process of its own (the CLI, or
// a small filler), as chDB binds one data folder per process.
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { type FeatBitRow, Timestamp } from "@featbit-export/core"
import { defaultEnvIds, generateRows } from "@featbit-export/source-generate"
import { beforeAll, describe, expect, it } from "vitest"
import { assertBuilt, cli, tempDir, writeFile } from "./support.js"

const runnerDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")

beforeAll(() => assertBuilt())

/** Inserts rows into FeatBit's events table in the chDB folder (created if missing), from a child process. */
const fill = (dir: string, rows: ReadonlyArray<FeatBitRow>): void => {
  const rowsFile = path.join(dir, `rows-${Date.now()}.json`)
  fs.writeFileSync(rowsFile, JSON.stringify(rows))
  const script = `
    import * as fs from "node:fs"
    import { createEmbeddedClient, createFeatBitEventsTable, insertFeatBitRows } from "@featbit-export/source-clickhouse"
    const client = await createEmbeddedClient(${JSON.stringify(path.join(dir, "ch"))})
    await createFeatBitEventsTable(client)
    await insertFeatBitRows(client, JSON.parse(fs.readFileSync(${JSON.stringify(rowsFile)}, "utf8")))
    await client.close()`
  const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: runnerDir, encoding: "utf8", timeout: 60_000 })
  if (run.status !== 0) throw new Error(`filling chDB failed: ${run.stderr}`)
}

const pipelineFile = (envKey: string) => `pipelines:
  - name: flags
    source:
      type: clickhouse
      url: chdb:./ch
      ${envKey}
    sink: { type: file, path: out/events.ndjson }
`

const jsonLines = (text: string): Array<Record<string, unknown>> =>
  text.trimEnd().split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line) as Record<string, unknown>)

const [envA, envB] = [defaultEnvIds[0], defaultEnvIds[1]!]

/** Rows of one environment stamped over the 25 minutes before `end`, ingested a second after each event. */
const recentRows = (count: number, end: number, seed: number, envId = envA): Array<FeatBitRow> =>
  [...generateRows({ count, seed, envIds: [envId] })].map((row, i) => {
    const ms = end - 25 * 60_000 + Math.floor((i * 25 * 60_000) / count)
    return { ...row, timestamp: Timestamp.fromMillis(ms), ingestedAt: Timestamp.fromMillis(ms + 1_000) }
  })

describe("run on a live-shaped table", () => {
  it("reports the horizon, how far behind the store's clock it is, and the late rows it exported", async () => {
    const dir = tempDir()
    const now = Date.now()
    fill(dir, recentRows(3_000, now - 5 * 60_000, 5))
    writeFile(dir, "pipeline.yaml", pipelineFile(`envId: ${envA}`))
    const first = await cli(["run", "pipeline.yaml", "--once"], { cwd: dir })
    expect(first.code, first.stderr).toBe(0)
    const done = jsonLines(first.stderr).at(-1)!
    expect(done).toMatchObject({ message: "done", exported: 3_000, late: 0, missed: 0 })
    // The horizon is the store's clock minus the default lag, and the export is about that far behind.
    const horizon = Date.parse(String(done["horizon"]).slice(0, 23) + "Z")
    expect(horizon).toBeGreaterThan(now - 35_000)
    expect(horizon).toBeLessThan(Date.now())
    expect(done["secondsBehind"]).toBeGreaterThanOrEqual(29)
    expect(done["secondsBehind"]).toBeLessThan(90)

    // A phone back online: ten events of three minutes before the cursor arrive now.
    const checkpoint = JSON.parse(fs.readFileSync(path.join(dir, ".featbit-export", "flags.checkpoint.json"), "utf8")) as { cursor: { timestamp: string } }
    const cursor = Date.parse(checkpoint.cursor.timestamp.slice(0, 23) + "Z")
    const arrived = Timestamp.fromMillis(Date.now())
    const late = [...generateRows({ count: 10, seed: 6, envIds: [envA] })].map((row, i) => ({
      ...row,
      timestamp: Timestamp.fromMillis(cursor - 180_000 + i * 1_000),
      ingestedAt: arrived
    }))
    fill(dir, late)
    const second = await cli(["run", "pipeline.yaml", "--once"], { cwd: dir })
    expect(second.code, second.stderr).toBe(0)
    expect(jsonLines(second.stderr).at(-1)).toMatchObject({ message: "done", exported: 10, late: 10, missed: 0 })
    const info = jsonLines(second.stderr).find((record) => String(record["message"]).startsWith("exported 10 late rows"))
    expect(info?.["message"]).toMatch(/landed behind the cursor after it had passed, up to 3m( \d+s)? behind it \(lateWindow 1h\)/)
    const saved = JSON.parse(fs.readFileSync(path.join(dir, ".featbit-export", "flags.checkpoint.json"), "utf8")) as Record<string, unknown>
    expect(saved).toMatchObject({ version: 2, exported: 3_010, late: 10, missed: 0 })
    const out = fs.readFileSync(path.join(dir, "out", "events.ndjson"), "utf8").trimEnd().split("\n")
    expect(out).toHaveLength(3_010)
  })

  it("refuses to resume when envIds was widened under the same pipeline, saying what to do, and accepts it narrowed again", async () => {
    const dir = tempDir()
    const now = Date.now()
    fill(dir, [...recentRows(500, now - 5 * 60_000, 7), ...recentRows(500, now - 5 * 60_000, 8, envB)])
    writeFile(dir, "pipeline.yaml", pipelineFile(`envId: ${envA}`))
    expect((await cli(["run", "pipeline.yaml", "--once"], { cwd: dir })).code).toBe(0)
    writeFile(dir, "pipeline.yaml", pipelineFile(`envIds: [${envA}, ${envB}]`))
    const widened = await cli(["run", "pipeline.yaml", "--once"], { cwd: dir })
    expect(widened.code).toBe(1)
    const error = jsonLines(widened.stderr).find((record) => record["level"] === "error")
    expect(error?.["message"]).toContain(`envIds changed from [${envA}] to [${[envA, envB].sort().join(", ")}], which adds ${envB}`)
    expect(error?.["message"]).toMatch(/export the addition with a pipeline of its own/)
    expect(error?.["message"]).toContain("featbit-export checkpoints <file> --reset --pipeline flags")
    writeFile(dir, "pipeline.yaml", pipelineFile(`envId: ${envA}`))
    expect((await cli(["run", "pipeline.yaml", "--once"], { cwd: dir })).code).toBe(0)
  })

  it("reports envId beside envIds at its line, before anything runs (exit 2)", async () => {
    const dir = tempDir()
    writeFile(dir, "pipeline.yaml", pipelineFile(`envId: a\n      envIds: [b]`))
    const result = await cli(["validate", "pipeline.yaml"], { cwd: dir })
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("pipeline.yaml:6:7: pipelines[0].source.envId: envId and envIds are both given")
  })
})
