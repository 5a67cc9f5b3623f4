import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { killDuringExport, runnerWithSink, startHttpFront, startRunner } from "@featbit-export/testkit"
import { afterAll, describe, expect, it } from "vitest"
import { closeEngine, counts, engine, freshDatabase, rowsOf } from "./support.js"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..")
const made: Array<string> = []

afterAll(async () => {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
  await closeEngine()
})

const COUNT = 200_000
// Production-shaped timestamps: the export starts an hour ago.
const START = new Date(Date.now() - 3_600_000).toISOString()
const pipeline = (url: string, database: string) => `pipelines:
  - name: gen
    source:
      type: generate
      count: ${COUNT}
      seed: 7
      start: "${START}"
    sink:
      type: clickhouse
      url: ${url}
      database: ${database}
      requestTimeout: 10s
    batch:
      size: 2000
`

// A minute of CPU: the second run of the suite on the newest LTS (scripts/test-on-lts.mjs) skips it.
describe("a 200,000-event export into ClickHouse killed with SIGKILL three times", () => {
  it.skipIf(process.env["FEATBIT_EXPORT_LTS_RUN"] !== undefined)("ends with count() = uniqExact(id) = the source's events, without FINAL", async () => {
    const seed = Number(process.env["KILL_SEED"] ?? Math.floor(Math.random() * 2 ** 31))
    const database = await freshDatabase()
    const front = await startHttpFront({ engine: engine() })
    try {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "featbit-export-clickhouse-"))
      made.push(dir)
      fs.writeFileSync(
        path.join(dir, "runner.mjs"),
        runnerWithSink({
          runnerIndex: path.join(root, "apps", "runner", "dist", "index.js"),
          sinkIndex: path.join(root, "packages", "sink-clickhouse", "dist", "index.js"),
          sinkExport: "ClickHouseSink"
        })
      )
      fs.writeFileSync(path.join(dir, "pipeline.yaml"), pipeline(front.url, database))
      // Each kill after the run has committed a random share, while inserts are in flight.
      const kills = await killDuringExport({ dir, seed })
      const last = startRunner(dir, ["run", "pipeline.yaml", "--once"])
      const end = await last.finished
      const schedule = `seed ${seed}, start ${START}, kills ${JSON.stringify(kills)}`
      expect(end.code, `${schedule}\n${last.stderr()}`).toBe(0)
      const table = `${database}.featbit_events`
      const seen = await counts(table)
      const inserts = front.requests.filter((r) => r.sql.startsWith("INSERT")).length
      const tokens = new Set(front.requests.filter((r) => r.sql.startsWith("INSERT")).map((r) => r.settings["insert_deduplication_token"])).size
      const [final] = await rowsOf<{ rows: string }>(`SELECT count() AS rows FROM ${table} FINAL`)
      console.log(`clickhouse SIGKILL test: ${schedule}; ${inserts} inserts, ${tokens} distinct tokens; count() ${seen.rows}, uniqExact(id) ${seen.ids}, count() FINAL ${final!.rows}`)
      expect(kills.every((kill) => kill.committed < COUNT), schedule).toBe(true)
      expect(seen, schedule).toEqual({ rows: COUNT, ids: COUNT })
    } finally {
      await front.close()
    }
  }, 120_000)
})
