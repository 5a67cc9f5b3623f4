// A pipeline file into a PostgreSQL table through the built CLI: filter:, transform: and sink.map: decide the
// rows, preview shows them first; a replay of the whole export (the checkpoint deleted) adds none twice.
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type TestDatabase, HOST, PORT, createDatabase } from "../../../packages/source-postgres/test/support/pg.js"
import { assertBuilt, cli, jsonLines, tempDir, writeFile } from "./support.js"

let db: TestDatabase
beforeAll(async () => {
  assertBuilt()
  db = await createDatabase("tablesink")
})
afterAll(async () => {
  await db.drop()
})

// Timestamps from an hour ago, as a live export meets them.
const pipelineFile = (database: string) => `pipelines:
  - name: warehouse
    source: { type: generate, count: 6000, seed: 33, users: 50000, start: "${new Date(Date.now() - 3_600_000).toISOString()}" }
    filter: 'event != "PageView"'
    transform:
      set:
        tags.team: '"growth"'
    sink:
      type: postgres
      host: ${HOST}
      port: ${PORT}
      user: postgres
      database: ${database}
      table: exports
      map:
        user_key: '"acme:" + user.keyId'
        event_name: 'event == "FlagValue" ? flagKey : eventName'
`

describe("a table sink in a pipeline file", () => {
  it("writes the mapped rows once, and a replay of the whole export adds none", async () => {
    const dir = tempDir()
    writeFile(dir, "pipeline.yaml", pipelineFile(db.name))
    // Before the run (preview starts at the checkpoint): the rows as the table will hold them.
    const preview = await cli(["preview", "pipeline.yaml", "--limit", "50"], { cwd: dir })
    expect(preview.code, preview.stderr).toBe(0)
    const rows = preview.stdout.trimEnd().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>)
    expect(rows.length).toBeGreaterThan(0)
    for (const row of rows) {
      expect(String(row["user_key"])).toMatch(/^acme:/)
      if (row["event"] === "FlagValue") expect(row["event_name"]).toBe(row["flag_key"])
      else expect(row["event_name"]).toEqual(expect.any(String))
      expect((row["tags"] as Record<string, unknown>)["team"]).toBe("growth")
      expect(row["event"]).not.toBe("PageView")
    }
    expect(new Set(rows.map((row) => row["event"] === "FlagValue")).size).toBe(2)

    const first = await cli(["run", "pipeline.yaml", "--once"], { cwd: dir })
    expect(first.code, first.stderr).toBe(0)
    const done = jsonLines(first.stderr).find((r) => r["message"] === "done")!
    const exported = Number(done["exported"])
    expect(exported + Number(done["filtered"])).toBe(6000)
    expect(Number(done["filtered"])).toBeGreaterThan(100)

    const stats = async () =>
      (
        await db.pool.query<{ rows: string; ids: string; users: string; pageviews: string; unmapped: string; unnamed: string; teams: string }>(
          `SELECT count(*) AS rows, count(DISTINCT id) AS ids, count(DISTINCT user_key) AS users,
                  count(*) FILTER (WHERE event = 'PageView') AS pageviews,
                  count(*) FILTER (WHERE user_key NOT LIKE 'acme:%') AS unmapped,
                  count(*) FILTER (WHERE event_name IS DISTINCT FROM (CASE WHEN event = 'FlagValue' THEN flag_key ELSE event_name END) OR event_name IS NULL) AS unnamed,
                  count(*) FILTER (WHERE tags->>'team' = 'growth') AS teams
             FROM public.exports`
        )
      ).rows[0]!
    const once = await stats()
    expect(once).toMatchObject({ rows: String(exported), ids: String(exported), pageviews: "0", unmapped: "0", unnamed: "0", teams: String(exported) })
    expect(Number(once.users)).toBeGreaterThan(1000)
    const exposures = await db.pool.query<{ n: string }>(`SELECT count(*) AS n FROM public.exports WHERE event = 'FlagValue' AND event_name = flag_key`)
    expect(Number(exposures.rows[0]!.n)).toBeGreaterThan(100)

    // The whole export again from the start, as after a lost checkpoint: the table keeps one row per event.
    fs.rmSync(path.join(dir, ".featbit-export"), { recursive: true, force: true })
    const again = await cli(["run", "pipeline.yaml", "--once"], { cwd: dir })
    expect(again.code, again.stderr).toBe(0)
    expect(Number(jsonLines(again.stderr).find((r) => r["message"] === "done")!["exported"])).toBe(exported)
    expect(await stats()).toEqual(once)

  })
})
