import { type ExportEvent, SinkError } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type TestDatabase, counts, createDatabase, freshSchema, installTrigger, openSink, run, sampleEvents, sinkConfig } from "./support.js"

let db: TestDatabase
beforeAll(async () => {
  db = await createDatabase("sinkwrite")
})
afterAll(async () => {
  await db.drop()
})

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

describe("sink-postgres writes", () => {
  it("creates its table on the first write, keeps microseconds, text as written and jsonb; a replayed batch adds nothing", async () => {
    const schema = await freshSchema(db, false)
    const [first, second, ...rest] = sampleEvents(2_000, 41)
    const exact: ExportEvent = {
      ...first!,
      timestamp: "2026-12-02T10:00:00.123456Z" as ExportEvent["timestamp"],
      user: { ...first!.user, name: 'tab\there, newline\nthere, back\\slash, "quoted", \u00e9t\u00e9 \u{1f680}' },
      properties: { nested: { list: [1, 2.5, "x"] }, flag: true }
    }
    const events = [exact, second!, ...rest]
    await run(
      Effect.gen(function* () {
        const sink = yield* openSink(sinkConfig(db, schema, { maxBytes: "64KiB" }))
        expect((yield* sink.write({ events, sequence: 0 })).rejected).toEqual([])
        // A retry or a replay after a restart: the same ids again, in other chunks.
        expect((yield* sink.write({ events: [...events].reverse(), sequence: 1 })).rejected).toEqual([])
      })
    )
    expect(await counts(db, schema)).toEqual({ rows: events.length, ids: events.length })
    const s = pg.escapeIdentifier(schema)
    const row = (
      await db.pool.query(
        `SELECT to_char(timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ts, user_name, properties, pg_typeof(properties)::text AS json_type FROM ${s}.featbit_events WHERE id = $1`,
        [exact.id]
      )
    ).rows[0]
    expect(row).toEqual({ ts: "2026-12-02T10:00:00.123456Z", user_name: exact.user.name, properties: exact.properties, json_type: "jsonb" })
    const key = (await db.pool.query(`SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] WHERE i.indrelid = '${schema}.featbit_events'::regclass AND i.indisprimary`)).rows
    expect(key).toEqual([{ attname: "id" }])
  })

  it("dead-letters the event PostgreSQL refuses (a NUL in jsonb) with the server's reason, and writes the others", async () => {
    const schema = await freshSchema(db)
    const events = sampleEvents(3_000, 42)
    const poisoned = { ...events[1234]!, properties: { note: "nul \u0000 byte" } }
    events[1234] = poisoned
    const result = await run(Effect.flatMap(openSink(sinkConfig(db, schema)), (sink) => sink.write({ events, sequence: 0 })))
    expect(result.rejected.map((r) => r.event.id)).toEqual([poisoned.id])
    expect(result.rejected[0]!.reason).toMatch(/22P05|unsupported Unicode|\\u0000/)
    expect(await counts(db, schema)).toEqual({ rows: events.length - 1, ids: events.length - 1 })
  })

  it("finds the rows a CHECK of the table refuses (no COPY line names them) by halves, and dead-letters only those", async () => {
    const schema = await freshSchema(db)
    await db.pool.query(`ALTER TABLE ${pg.escapeIdentifier(schema)}.featbit_events ADD CONSTRAINT no_blocked_users CHECK (user_key <> 'blocked')`)
    const events = sampleEvents(5_000, 44)
    const blocked = [17, 2_500, 4_999].map((i) => (events[i] = { ...events[i]!, user: { ...events[i]!.user, keyId: "blocked" } }))
    const result = await run(Effect.flatMap(openSink(sinkConfig(db, schema)), (sink) => sink.write({ events, sequence: 0 })))
    expect(result.rejected.map((r) => r.event.id).sort()).toEqual(blocked.map((event) => event.id).sort())
    expect(result.rejected[0]!.reason).toMatch(/no_blocked_users/)
    expect(await counts(db, schema)).toEqual({ rows: events.length - 3, ids: events.length - 3 })
  })

  it("retries a batch whose connection was terminated mid-batch: nothing lost, nothing twice", async () => {
    const schema = await freshSchema(db)
    // The second insert (second chunk) sleeps in the server, so the test can terminate it there: the first
    // chunk is committed, the second is not.
    await installTrigger(db, schema, "IF seen = 2 THEN PERFORM pg_sleep(30); END IF;")
    const events = sampleEvents(20_000, 43)
    const outcome = await run(
      Effect.gen(function* () {
        const sink = yield* openSink(sinkConfig(db, schema, { maxBytes: "1MiB" }))
        const writing = Effect.runPromise(Effect.either(sink.write({ events, sequence: 0 })))
        let killed = 0
        for (let i = 0; i < 400 && killed === 0; i++) {
          yield* Effect.promise(() => sleep(25))
          const found = yield* Effect.promise(() =>
            db.pool.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'featbit-export' AND wait_event = 'PgSleep'", [db.name])
          )
          for (const { pid } of found.rows) {
            if ((yield* Effect.promise(() => db.pool.query<{ ok: boolean }>("SELECT pg_terminate_backend($1) AS ok", [pid]))).rows[0]?.ok === true) killed += 1
          }
        }
        const first = yield* Effect.promise(() => writing)
        const between = yield* Effect.promise(() => counts(db, schema))
        const second = yield* Effect.either(sink.write({ events, sequence: 0 }))
        return { killed, first, between, second }
      })
    )
    expect(outcome.killed).toBe(1)
    expect(Either.isLeft(outcome.first)).toBe(true)
    const error = Either.isLeft(outcome.first) ? outcome.first.left : undefined
    expect(error).toBeInstanceOf(SinkError)
    expect(error?.retryable).toBe(true)
    // The first chunk had committed; the terminated one had not.
    expect(outcome.between.rows).toBeGreaterThan(0)
    expect(outcome.between.rows).toBeLessThan(events.length)
    expect(Either.isRight(outcome.second) && outcome.second.right.rejected).toEqual([])
    expect(await counts(db, schema)).toEqual({ rows: events.length, ids: events.length })
  })

  it("fails a chunk whose connection dropped without encoding its lines again: only a refused row needs them", async () => {
    const schema = await freshSchema(db)
    // The second chunk's INSERT drops its own connection: a failure of the write, not of any row.
    await installTrigger(db, schema, "IF seen = 2 THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF;")
    const events = sampleEvents(5_000, 45)
    // The sink asks for an event's fields each time it encodes the event's line: the calls count the encodings.
    const encoded = new Map<string, number>()
    const fields = (event: ExportEvent) => void encoded.set(event.id, (encoded.get(event.id) ?? 0) + 1)
    const result = await run(Effect.either(Effect.flatMap(openSink(sinkConfig(db, schema, { maxBytes: "256KiB" })), (sink) => sink.write({ events, sequence: 0, fields }))))
    expect(Either.isLeft(result) && result.left.retryable).toBe(true)
    expect(Math.max(...encoded.values())).toBe(1)
    // The chunks after the failed one were never read.
    expect(encoded.size).toBeLessThan(events.length / 2)
    expect(encoded.size).toBeGreaterThan((await counts(db, schema)).rows)
  })

  it("never prints the password, in any encoding, when the server cannot be reached", async () => {
    const password = "p@ss w0rd/with:chars"
    const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:1/${db.name}`
    const result = await run(Effect.either(Effect.flatMap(openSink({ url, connectTimeout: "2s" }), (sink) => sink.write({ events: sampleEvents(10, 44), sequence: 0 }))))
    expect(Either.isLeft(result)).toBe(true)
    const error = Either.isLeft(result) ? result.left : undefined
    expect(error?.retryable).toBe(true)
    expect(error?.message).toMatch(/127\.0\.0\.1:1/)
    for (const form of [password, encodeURIComponent(password), "p@ss"]) expect(error?.message).not.toContain(form)
  })
})
