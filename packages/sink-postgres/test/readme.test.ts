import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Effect from "effect/Effect"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type TestDatabase, createDatabase, openSink, run, sampleEvents, sinkConfig, uniqueName } from "./support.js"

const readme = fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "README.md"), "utf8")
const blocks = [...readme.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]!)

let db: TestDatabase
beforeAll(async () => {
  db = await createDatabase("sinkreadme")
})
afterAll(async () => {
  await db.drop()
})

describe("the README", () => {
  it("shows the DDL the sink runs, and its queries agree with the events it wrote", async () => {
    const schema = uniqueName("s")
    await db.pool.query(`CREATE SCHEMA ${pg.escapeIdentifier(schema)}`)
    const events = sampleEvents(5_000, 9)
    await run(Effect.flatMap(openSink(sinkConfig(db, schema)), (sink) => sink.write({ events, sequence: 0 })))
    // The README's DDL, without its comments, is the table the sink created.
    const ddl = blocks[0]!.replace(/\s*--[^\n]*/g, "")
    const created = await db.pool.query<{ name: string; type: string; notnull: boolean }>(
      `SELECT attname AS name, format_type(atttypid, atttypmod) AS type, attnotnull AS notnull FROM pg_attribute WHERE attrelid = '${schema}.featbit_events'::regclass AND attnum > 0 ORDER BY attnum`
    )
    for (const column of created.rows) {
      const type = column.type.replace("timestamp with time zone", "timestamptz")
      expect(ddl).toContain(`"${column.name}" ${type}${column.name === "id" ? " PRIMARY KEY" : column.notnull ? " NOT NULL" : ""}`)
    }
    const client = await db.pool.connect()
    try {
      await client.query(`SET search_path TO ${pg.escapeIdentifier(schema)}`)
      const flags = events.flatMap((e) => (e.event === "FlagValue" && e.sendToExperiment ? [e] : []))
      const flag = flags[0]!
      const env = flag.envId
      const exposures = blocks.find((b) => b.includes("count(DISTINCT user_key) AS users"))!
      const rows = (await client.query(exposures, [env])).rows
      const users = new Set(events.filter((e) => e.event === "FlagValue" && e.envId === env && e.flagKey === flag.flagKey && e.variationId === flag.variationId).map((e) => e.user.keyId)).size
      expect(Number(rows.find((r) => r.flag_key === flag.flagKey && r.variation_id === flag.variationId)?.users)).toBe(users)
      const metric = events.find((e) => e.event === "CustomEvent" && e.envId === env)!
      const conversion = blocks.find((b) => b.includes("conversions AS"))!
      const result = (await client.query(conversion, [env, flag.flagKey, metric.event === "FlagValue" ? "" : metric.eventName])).rows
      expect(result.reduce((n, r) => n + Number(r.exposed), 0)).toBe(new Set(flags.filter((e) => e.envId === env && e.flagKey === flag.flagKey).map((e) => e.user.keyId)).size)
    } finally {
      client.release()
    }
  })
})
