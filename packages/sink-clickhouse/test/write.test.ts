import { type ExportEvent, decodeFeatBitRow } from "@featbit-export/core"
import { generateRows } from "@featbit-export/source-generate"
import { ClickHouseSink } from "@featbit-export/sink-clickhouse"
import { startHttpFront } from "@featbit-export/testkit"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { afterAll, describe, expect, it } from "vitest"
import { closeEngine, counts, engine, engineFolder, freshDatabase, openSink, rowsOf } from "./support.js"

afterAll(() => closeEngine())

const events = (count: number, seed: number): Array<ExportEvent> =>
  [...generateRows({ count, seed })].flatMap((row) => Either.match(decodeFeatBitRow(row), { onLeft: () => [], onRight: (e) => [e] }))

describe("writing over HTTP", () => {
  it("retries an insert whose connection was dropped after the server stored it, without loss or duplicates (no FINAL)", async () => {
    const database = await freshDatabase()
    const front = await startHttpFront({ engine: engine() })
    try {
      const batch = events(3_000, 41)
      let inserts = 0
      // The second insert of the batch is stored, then its connection dies before the answer.
      front.fault = (request) => (request.sql.startsWith("INSERT") && ++inserts === 2 ? { kind: "reset-after" } : undefined)
      const outcome = await Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            const sink = yield* openSink({ url: front.url, database, maxBytes: "256KiB" })
            const first = yield* Effect.either(sink.write({ events: batch, sequence: 0 }))
            const second = yield* sink.write({ events: batch, sequence: 0 })
            return { first, second }
          })
        )
      )
      expect(Either.isLeft(outcome.first) && outcome.first.left.retryable).toBe(true)
      expect(outcome.second.rejected).toEqual([])
      const insertRequests = front.requests.filter((r) => r.sql.startsWith("INSERT"))
      expect(insertRequests.length).toBeGreaterThan(4)
      // The retried insert went with the same token as the one that was stored.
      expect(insertRequests[1]!.fault).toEqual({ kind: "reset-after" })
      const tokens = insertRequests.map((r) => r.settings["insert_deduplication_token"])
      expect(tokens.filter((t) => t === tokens[1]).length).toBe(2)
      expect(await counts(`${database}.featbit_events`)).toEqual({ rows: 3_000, ids: 3_000 })
    } finally {
      await front.close()
    }
  })

  it("keeps microseconds, nulls and JSON columns as the row render shows them", async () => {
    const database = await freshDatabase()
    // The generator stamps milliseconds; FeatBit's SDKs send microseconds too.
    const batch = events(200, 42).map((e, i) => (i % 2 === 0 ? ({ ...e, timestamp: e.timestamp.slice(0, 23) + String(100 + i).padStart(3, "0") + "Z" } as ExportEvent) : e))
    // Text a JSON column must keep as written: quotes, backslashes, control characters, astral characters.
    batch[7] = { ...batch[7]!, properties: { note: 'say "hi"\\ there\n\ttab \u0001 \u{1f680} été', nested: { list: [1, 2.5, null, true] } } }
    await Effect.runPromise(Effect.scoped(Effect.flatMap(openSink({ url: `chdb:${engineFolder()}`, database }), (sink) => sink.write({ events: batch, sequence: 0 }))))
    const stored = await rowsOf<Record<string, unknown>>(
      `SELECT toString(id) AS id, toString(timestamp) AS ts, flag_key, numeric_value, properties, send_to_experiment FROM ${database}.featbit_events`
    )
    const byId = new Map(stored.map((row) => [row["id"], row]))
    const render = ClickHouseSink.render!(Schema.decodeUnknownSync(ClickHouseSink.config)({ url: "chdb:x" }))
    expect(byId.size).toBe(batch.length)
    for (const event of batch) {
      const row = byId.get(event.id)!
      const shown = render(event) as Record<string, unknown>
      expect(row["ts"]).toBe(event.timestamp.replace("T", " ").replace("Z", ""))
      expect(shown["timestamp"]).toBe(row["ts"])
      expect(row["flag_key"]).toBe(shown["flag_key"])
      expect(row["numeric_value"]).toBe(shown["numeric_value"])
      expect(JSON.parse(String(row["properties"]))).toEqual(event.properties)
      // Sent as an object, stored as its text: the same text preview shows.
      expect(row["properties"]).toBe(shown["properties"])
    }
  })

  it("writes the columns a pipeline file maps (sink.map) and renames (columns:)", async () => {
    const database = await freshDatabase()
    await engine().command({ query: `CREATE TABLE ${database}.t (event_id UUID, env_id String, event String, timestamp DateTime64(6, 'UTC'), ingested_at Nullable(DateTime64(6, 'UTC')), distinct_id String, user_key String, user_name String, flag_id Nullable(String), flag_key Nullable(String), flag_name Nullable(String), variation_id Nullable(String), variation_name Nullable(String), variation_value Nullable(String), send_to_experiment Nullable(Bool), event_name Nullable(String), numeric_value Nullable(Float64), application_type Nullable(String), route String, account_id String, project_id String, tags String) ENGINE = ReplacingMergeTree ORDER BY (timestamp, event_id) SETTINGS non_replicated_deduplication_window = 100` })
    const batch = events(20, 43)
    await Effect.runPromise(
      Effect.scoped(
        Effect.flatMap(openSink({ url: `chdb:${engineFolder()}`, database, table: "t", createTable: false, columns: { id: "event_id", properties: false } }), (sink) =>
          sink.write({ events: batch, sequence: 0, fields: (event) => ({ user_key: `mapped-${event.user.keyId}` }) })
        )
      )
    )
    const stored = await rowsOf<{ id: string; user_key: string }>(`SELECT toString(event_id) AS id, user_key FROM ${database}.t`)
    expect(new Map(stored.map((r) => [r.id, r.user_key]))).toEqual(new Map(batch.map((e) => [e.id, `mapped-${e.user.keyId}`])))
  })

  it("fails for good on refused credentials, and never says the password", async () => {
    const database = await freshDatabase()
    const password = "s3cret-Passw0rd"
    const front = await startHttpFront({ engine: engine(), users: { writer: "other" }, echoCredentials: true })
    try {
      const result = await Effect.runPromise(
        Effect.scoped(Effect.flatMap(openSink({ url: front.url, database, username: "writer", password }), (sink) => Effect.either(sink.write({ events: events(5, 44), sequence: 0 }))))
      )
      expect(Either.isLeft(result)).toBe(true)
      const error = Either.isLeft(result) ? result.left : undefined
      expect(error?.retryable).toBe(false)
      expect(error?.message).toMatch(/refused the credentials of user "writer".*fix the sink's username and password/)
      expect(error?.message).not.toContain(password)
      expect(error?.message).not.toContain(Buffer.from(`writer:${password}`).toString("base64"))
      expect(error?.message).not.toContain(encodeURIComponent(`writer:${password}`))
    } finally {
      await front.close()
    }
  })

  it("retries a stalled server as transient, within requestTimeout", async () => {
    const database = await freshDatabase()
    const front = await startHttpFront({ engine: engine() })
    try {
      front.fault = (request) => (request.sql.startsWith("INSERT") ? { kind: "stall" } : undefined)
      const result = await Effect.runPromise(
        Effect.scoped(Effect.flatMap(openSink({ url: front.url, database, requestTimeout: "300ms" }), (sink) => Effect.either(sink.write({ events: events(5, 45), sequence: 0 }))))
      )
      expect(Either.isLeft(result) && result.left.retryable).toBe(true)
    } finally {
      await front.close()
    }
  })
})
