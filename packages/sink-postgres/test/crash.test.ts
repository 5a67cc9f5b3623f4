import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { killDuringExport, runnerWithSink, startRunner } from "@featbit-export/testkit"
import { afterAll, describe, expect, it } from "vitest"
import { type TestDatabase, createDatabase } from "../../source-postgres/test/support/pg.js"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..")
const made: Array<string> = []
let db: TestDatabase | undefined

afterAll(async () => {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
  await db?.drop()
})

const COUNT = 200_000
// Production-shaped timestamps: the export starts an hour ago.
const START = new Date(Date.now() - 3_600_000).toISOString()
const pipeline = (database: string) => `pipelines:
  - name: gen
    source:
      type: generate
      count: ${COUNT}
      seed: 7
      start: "${START}"
    sink:
      type: postgres
      host: localhost
      port: 5432
      user: postgres
      database: ${database}
    batch:
      size: 2000
`

// A minute of CPU: the second run of the suite on the newest LTS (scripts/test-on-lts.mjs, which sets
// FEATBIT_EXPORT_LTS_RUN) skips it: once per CI is enough.
describe.skipIf(process.env["FEATBIT_EXPORT_LTS_RUN"] !== undefined)("a 200,000-event export into PostgreSQL killed with SIGKILL three times", () => {
  it("ends with count(*) = count(DISTINCT id) = the source's events", async () => {
    const seed = Number(process.env["KILL_SEED"] ?? Math.floor(Math.random() * 2 ** 31))
    db = await createDatabase("sinkcrash")
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "featbit-export-postgres-"))
    made.push(dir)
    fs.writeFileSync(
      path.join(dir, "runner.mjs"),
      runnerWithSink({
        runnerIndex: path.join(root, "apps", "runner", "dist", "index.js"),
        sinkIndex: path.join(root, "packages", "sink-postgres", "dist", "index.js"),
        sinkExport: "PostgresSink"
      })
    )
    fs.writeFileSync(path.join(dir, "pipeline.yaml"), pipeline(db.name))
    // Each kill after the run has committed a random share, while transactions are in flight.
    const kills = await killDuringExport({ dir, seed })
    const last = startRunner(dir, ["run", "pipeline.yaml", "--once"])
    const end = await last.finished
    const schedule = `seed ${seed}, start ${START}, kills ${JSON.stringify(kills)}`
    expect(end.code, `${schedule}\n${last.stderr()}`).toBe(0)
    const result = await db.pool.query<{ rows: string; ids: string }>("SELECT count(*) AS rows, count(DISTINCT id) AS ids FROM public.featbit_events")
    const seen = { rows: Number(result.rows[0]!.rows), ids: Number(result.rows[0]!.ids) }
    console.log(`postgres SIGKILL test: ${schedule}; count(*) ${seen.rows}, count(DISTINCT id) ${seen.ids}`)
    expect(kills.every((kill) => kill.committed < COUNT), schedule).toBe(true)
    expect(seen, schedule).toEqual({ rows: COUNT, ids: COUNT })
  }, 120_000)
})
