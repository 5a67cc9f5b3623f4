import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type TestDatabase, counts, createDatabase, freshSchema, openSink, run, sampleEvents, sinkConfig, uniqueName } from "./support.js"

let db: TestDatabase
beforeAll(async () => {
  db = await createDatabase("sinkcheck")
})
afterAll(async () => {
  await db.drop()
})

const check = (config: Record<string, unknown>) =>
  run(Effect.either(Effect.flatMap(openSink(config), (sink) => sink.check!)))

describe("sink-postgres check", () => {
  it("confirms the server, the table's shape, its unique id and the grants, writing nothing", async () => {
    const schema = await freshSchema(db)
    const result = await check(sinkConfig(db, schema))
    expect(Either.isRight(result)).toBe(true)
    const facts = Either.isRight(result) ? result.right.join("\n") : ""
    expect(facts).toMatch(/connected to PostgreSQL \d+/)
    expect(facts).toMatch(/unique index on id/)
    expect(facts).toMatch(/may insert into/)
    expect(await counts(db, schema)).toEqual({ rows: 0, ids: 0 })
  })

  it("says a missing table is created on the first write, or what to do without createTable", async () => {
    const schema = await freshSchema(db, false)
    const created = await check(sinkConfig(db, schema))
    expect(Either.isRight(created) && created.right.join("\n")).toMatch(/does not exist yet: the first write creates it/)
    const refused = await check(sinkConfig(db, schema, { createTable: false }))
    expect(Either.isLeft(refused) && refused.left.message).toMatch(/does not exist .*set createTable: true/)
  })

  it("reports every mismatch of an existing table, with what to fix", async () => {
    const schema = uniqueName("s")
    const s = pg.escapeIdentifier(schema)
    await db.pool.query(`CREATE SCHEMA ${s}`)
    // The columns of the README's layout, but: a timestamp without time zone, no key on id, route missing,
    // and a NOT NULL column the sink does not write.
    await db.pool.query(
      `CREATE TABLE ${s}.featbit_events (id uuid, env_id text NOT NULL, event text NOT NULL, timestamp timestamp NOT NULL, ingested_at timestamptz,
        distinct_id text, user_key text, user_name text, flag_id text, flag_key text, flag_name text, variation_id text, variation_name text,
        variation_value jsonb, send_to_experiment boolean, event_name text, numeric_value double precision, application_type text,
        account_id text, project_id text, tags jsonb, properties jsonb, tenant text NOT NULL)`
    )
    const result = await check(sinkConfig(db, schema, { createTable: false }))
    expect(Either.isLeft(result)).toBe(true)
    const message = Either.isLeft(result) ? result.left.message : ""
    expect(result._tag === "Left" && result.left.retryable).toBe(false)
    expect(message).toMatch(/column timestamp is timestamp without time zone, not timestamptz/)
    expect(message).toMatch(/column route is missing/)
    expect(message).toMatch(/column id has no unique index .*ADD PRIMARY KEY/)
    expect(message).toMatch(/column tenant is NOT NULL without a default/)
  })

  it("accepts an existing table with other column names through columns:, and writes into it", async () => {
    const schema = uniqueName("s")
    const s = pg.escapeIdentifier(schema)
    await db.pool.query(`CREATE SCHEMA ${s}`)
    await db.pool.query(
      `CREATE TABLE ${s}.exposures (event_id uuid PRIMARY KEY, env_id text, event text, ts timestamptz NOT NULL, distinct_id text, user_key text,
        flag_key text, variation_id text, event_name text, numeric_value double precision, props jsonb, loaded_at timestamptz NOT NULL DEFAULT now())`
    )
    const leftOut = Object.fromEntries(
      ["ingested_at", "user_name", "flag_id", "flag_name", "variation_name", "variation_value", "send_to_experiment", "application_type", "route", "account_id", "project_id", "tags"].map((c) => [c, false])
    )
    const config = sinkConfig(db, schema, { table: "exposures", createTable: false, columns: { id: "event_id", timestamp: "ts", properties: "props", ...leftOut } })
    const result = await check(config)
    expect(Either.isRight(result)).toBe(true)
    const events = sampleEvents(500, 51)
    await run(Effect.flatMap(openSink(config), (sink) => sink.write({ events, sequence: 0 })))
    const stored = await db.pool.query<{ n: string }>(`SELECT count(DISTINCT event_id) AS n FROM ${s}.exposures`)
    expect(Number(stored.rows[0]!.n)).toBe(events.length)
  })
})
