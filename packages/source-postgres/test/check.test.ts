import { type Source, SourceError } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { HOST, PORT, type TestDatabase, createDatabase, createEventsTable, failure, openSource, run, sourceConfig, uniqueName } from "./support/pg.js"

let db: TestDatabase
const role = uniqueName("nocheck")
beforeAll(async () => {
  db = await createDatabase("check")
  await db.pool.query(`CREATE ROLE ${pg.escapeIdentifier(role)} LOGIN`)
})
afterAll(async () => {
  await db.drop()
  const admin = new pg.Client({ host: HOST, port: PORT, user: "postgres", database: "postgres" })
  await admin.connect()
  await admin.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(role)}`)
  await admin.end()
})

const check = (config: Record<string, unknown>) =>
  Effect.flatMap(openSource(config), (source: Source) => (source.check === undefined ? Effect.die("no check") : source.check))

describe("check", () => {
  it("confirms connection, table, columns and SELECT, and gives the exact CREATE INDEX when FeatBit's index does not serve", async () => {
    const schema = uniqueName("s")
    await createEventsTable(db, schema)
    const facts = await run(check(sourceConfig(db, schema)))
    expect(facts[0]).toMatch(new RegExp(`^connected to PostgreSQL 1\\d\\.\\d+[^ ]* at ${HOST}:${PORT}/${db.name} as user "postgres"`))
    expect(facts[1]).toBe(`table "${schema}"."events" has the columns id, distinct_id, env_id, event, properties, timestamp, and user "postgres" has SELECT on it`)
    expect(facts[2]).toContain(`no index of "${schema}"."events" serves the keyset order (timestamp, id)`)
    expect(facts[2]).toContain("idx_events_combined")
    expect(facts[2]).toContain(`CREATE INDEX CONCURRENTLY "idx_events_timestamp_id" ON "${schema}"."events" ("timestamp", id);`)

    const byEnv = await run(check(sourceConfig(db, schema, { envIds: ["env-a"] })))
    const advice = /run: (CREATE INDEX CONCURRENTLY .*;)$/.exec(byEnv[2]!)?.[1]
    expect(advice).toBe(`CREATE INDEX CONCURRENTLY "idx_events_env_id_timestamp_id" ON "${schema}"."events" (env_id, "timestamp", id);`)

    // The advice is a statement that runs, and afterwards check finds the index serving.
    await db.pool.query(advice!)
    const after = await run(check(sourceConfig(db, schema, { envIds: ["env-a"] })))
    expect(after[2]).toMatch(/^index idx_events_env_id_timestamp_id serves the keyset reads \(CREATE INDEX idx_events_env_id_timestamp_id ON/)
    // Without envIds, an (env_id, timestamp, id) index does not serve the order on (timestamp, id).
    const all = await run(check(sourceConfig(db, schema)))
    expect(all[2]).toContain("CREATE INDEX CONCURRENTLY")
  })

  it("fails on a missing table and lists the schema's tables", async () => {
    const schema = uniqueName("s")
    await createEventsTable(db, schema, "other_events")
    const error = (await failure(check(sourceConfig(db, schema)))) as SourceError
    expect(error).toBeInstanceOf(SourceError)
    expect(error.retryable).toBe(false)
    expect(error.message).toMatch(new RegExp(`the table "${schema}"."events" does not exist .*tables in schema ${schema}: other_events`))
  })

  it("fails when the user lacks SELECT on the table, with the GRANT to run", async () => {
    const schema = uniqueName("s")
    await createEventsTable(db, schema)
    await db.pool.query(`GRANT USAGE ON SCHEMA ${pg.escapeIdentifier(schema)} TO ${pg.escapeIdentifier(role)}`)
    const error = (await failure(check(sourceConfig(db, schema, { user: role })))) as SourceError
    expect(error.retryable).toBe(false)
    expect(error.message).toContain(`user "${role}" may not read "${schema}"."events"`)
    expect(error.message).toContain(`GRANT SELECT ON "${schema}"."events"`)
    // Granted, the same check passes.
    await db.pool.query(`GRANT SELECT ON ${pg.escapeIdentifier(schema)}.events TO ${pg.escapeIdentifier(role)}`)
    const facts = await run(check(sourceConfig(db, schema, { user: role })))
    expect(facts[1]).toContain(`user "${role}" has SELECT`)
  })

  it("fails on a table that lacks FeatBit's columns", async () => {
    const schema = uniqueName("s")
    await db.pool.query(`CREATE SCHEMA ${pg.escapeIdentifier(schema)}`)
    await db.pool.query(`CREATE TABLE ${pg.escapeIdentifier(schema)}.events (id uuid PRIMARY KEY, timestamp timestamp NOT NULL)`)
    const error = (await failure(check(sourceConfig(db, schema)))) as SourceError
    expect(error.message).toMatch(/lacks the columns distinct_id, env_id, event, properties that FeatBit's events table has/)
  })
})
