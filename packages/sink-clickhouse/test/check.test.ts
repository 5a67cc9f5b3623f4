import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { afterAll, describe, expect, it } from "vitest"
import { closeEngine, createSinkTable, engine, engineFolder, freshDatabase, openSink } from "./support.js"

afterAll(() => closeEngine())

const check = (config: Record<string, unknown>) =>
  Effect.runPromise(Effect.scoped(Effect.flatMap(openSink({ url: `chdb:${engineFolder()}`, ...config }), (sink) => Effect.either(sink.check!))))

describe("check", () => {
  it("confirms the sink's own table, its dedup window and the right to insert", async () => {
    const database = await freshDatabase()
    await createSinkTable(database, "featbit_events", 500)
    const result = await check({ database })
    expect(Either.isRight(result)).toBe(true)
    const facts = Either.isRight(result) ? result.right.join("\n") : ""
    expect(facts).toMatch(/opened the embedded ClickHouse .*\(ClickHouse 26\./)
    expect(facts).toContain("has every column this sink writes")
    expect(facts).toContain("non_replicated_deduplication_window = 500")
  })

  it("names each mismatch of an existing table and what to fix", async () => {
    const database = await freshDatabase()
    await engine().command({
      query: `CREATE TABLE ${database}.events (id UUID, env_id String, event String, timestamp DateTime('UTC'), distinct_id String, user_key String, user_name UInt64, flag_id Nullable(String), flag_key Nullable(String), flag_name Nullable(String), variation_id Nullable(String), variation_name Nullable(String), variation_value Nullable(String), send_to_experiment Nullable(Bool), event_name Nullable(String), numeric_value Nullable(Float64), application_type Nullable(String), route String, account_id String, project_id String, tags String, properties String) ENGINE = ReplacingMergeTree ORDER BY (env_id, timestamp)`
    })
    const result = await check({ database, table: "events" })
    expect(Either.isLeft(result)).toBe(true)
    const message = Either.isLeft(result) ? result.left.message : ""
    expect(Either.isLeft(result) && result.left.retryable).toBe(false)
    expect(message).toContain("column timestamp is DateTime('UTC'), not DateTime64(6, 'UTC')")
    expect(message).toContain("column ingested_at is missing")
    expect(message).toContain("column user_name is UInt64, not String")
    expect(message).toMatch(/sorted by \(env_id, timestamp\) without id: merges would collapse different events/)
  })

  it("warns when an existing table keeps no deduplication window", async () => {
    const database = await freshDatabase()
    await createSinkTable(database, "featbit_events", 10_000)
    await engine().command({ query: `ALTER TABLE ${database}.featbit_events MODIFY SETTING non_replicated_deduplication_window = 0` })
    const result = await check({ database })
    const facts = Either.isRight(result) ? result.right.join("\n") : "failed"
    expect(facts).toMatch(/warning: .*non_replicated_deduplication_window = 0, so a retried insert is stored twice/)
  })

  it("says a missing table is created on the first write, or fails without createTable", async () => {
    const database = await freshDatabase()
    const created = await check({ database })
    expect(Either.isRight(created) && created.right.join("\n")).toMatch(/does not exist yet: the first write creates it/)
    const refused = await check({ database, createTable: false })
    expect(Either.isLeft(refused) && refused.left.message).toMatch(/does not exist .*set createTable: true or fix the sink's table|create it/)
    const unknown = await check({ database: "no_such_db" })
    expect(Either.isLeft(unknown) && unknown.left.message).toMatch(/the database "no_such_db" does not exist/)
  })
})
