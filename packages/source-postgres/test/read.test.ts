import { Cursor, type FeatBitRow, SourceError, Timestamp } from "@featbit-export/core"
import { makeRecordingSink, makeTestStores, runOnce } from "@featbit-export/testkit"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  type TestDatabase,
  at,
  createDatabase,
  createEventsTable,
  eventIds,
  failure,
  flagRow,
  insertRows,
  metricRow,
  openSource,
  readAll,
  run,
  serverNow,
  sortByKey,
  sourceConfig,
  uniqueName,
  uuid
} from "./support/pg.js"

let db: TestDatabase
beforeAll(async () => {
  db = await createDatabase("read")
})
afterAll(async () => {
  await db.drop()
})

/** A fresh schema with FeatBit's events table holding `rows`; returns the schema's name. */
const fresh = async (rows: ReadonlyArray<FeatBitRow>, table = "events"): Promise<string> => {
  const schema = uniqueName("s")
  const quoted = await createEventsTable(db, schema, table)
  await insertRows(db, quoted, rows)
  return schema
}

const ids = (rows: ReadonlyArray<FeatBitRow>) => rows.map((row) => row.id)

describe("reading FeatBit's PostgreSQL events table", () => {
  it("reads 2,500 rows sharing one timestamp in pages of 1,000: none lost, none repeated", async () => {
    const rows = Array.from({ length: 2500 }, () => flagRow(at(5)))
    const schema = await fresh(rows)
    const pages = await run(Effect.flatMap(openSource(sourceConfig(db, schema)), (source) => readAll(source, undefined, 1000)))
    expect(pages.map((page) => page.events.length)).toEqual([1000, 1000, 500])
    const seen = eventIds(pages)
    expect(new Set(seen).size).toBe(2500)
    expect(seen).toEqual(ids(sortByKey(rows)))
    for (const page of pages) expect(page.cursor).toEqual({ timestamp: at(5), id: page.events[page.events.length - 1]!.id })
  })

  it("orders ids as text byte by byte (Cursor.compare), whatever the database's collation", async () => {
    // Ids that differ in digit-vs-letter and in the first group: an order other than byte order would show.
    const idsAtOneInstant = ["0fffffff-0000-4000-8000-000000000000", "a0000000-0000-4000-8000-000000000000", "9fffffff-ffff-4fff-bfff-ffffffffffff", "f0000000-0000-4000-8000-000000000000", "00000000-0000-4000-8000-00000000000a"]
    const rows = idsAtOneInstant.map((id) => flagRow(at(1), "env-a", id))
    const schema = await fresh(rows)
    const pages = await run(Effect.flatMap(openSource(sourceConfig(db, schema)), (source) => readAll(source, undefined, 2)))
    const seen = eventIds(pages)
    expect(seen).toEqual([...idsAtOneInstant].sort())
    for (let i = 1; i < seen.length; i++) expect(Cursor.compare({ timestamp: at(1), id: seen[i - 1]! }, { timestamp: at(1), id: seen[i]! })).toBeLessThan(0)
  })

  it("reads only the configured environments: another environment never leaks", async () => {
    const a = Array.from({ length: 300 }, (_, i) => flagRow(at(i * 3), "env-a"))
    const b = Array.from({ length: 300 }, (_, i) => flagRow(at(i * 3), "env-b"))
    const schema = await fresh([...a, ...b])
    const pages = await run(Effect.flatMap(openSource(sourceConfig(db, schema, { envIds: ["env-b"] })), (source) => readAll(source, undefined, 64)))
    const events = pages.flatMap((page) => page.events)
    expect(events.map((e) => e.id)).toEqual(ids(sortByKey(b)))
    expect(events.every((e) => e.envId === "env-b")).toBe(true)
  })

  it("reads only the configured event kinds", async () => {
    const rows = [flagRow(at(1)), metricRow(at(2), 1), flagRow(at(3)), metricRow(at(4), 2.5)]
    const schema = await fresh(rows)
    const pages = await run(Effect.flatMap(openSource(sourceConfig(db, schema, { events: ["CustomEvent"] })), (source) => readAll(source, undefined, 10)))
    expect(eventIds(pages)).toEqual([rows[1]!.id, rows[3]!.id])
  })

  it("decodes the jsonb properties of both event kinds: whole and fractional numericValue, nested user, tags", async () => {
    const flag = flagRow(at(1))
    const whole = metricRow(at(2), 1)
    const fractional = metricRow(at(3), 0.125)
    const schema = await fresh([flag, whole, fractional])
    const pages = await run(Effect.flatMap(openSource(sourceConfig(db, schema)), (source) => readAll(source, undefined, 10)))
    const [f, w, r] = pages.flatMap((page) => page.events)
    expect(f).toMatchObject({
      event: "FlagValue",
      id: flag.id,
      envId: "env-a",
      timestamp: "2025-06-01T00:00:00.001000Z",
      flagKey: "flag-1",
      flagId: "env-a-flag-1",
      variationId: "7e03db60-7605-4428-a972-aa3b66a3f898",
      sendToExperiment: true,
      user: { keyId: "user-1", name: "User One" },
      tags: { tag_0: "user-1", tag_1: "7e03db60-7605-4428-a972-aa3b66a3f898", tag_2: "true", tag_3: "User One" }
    })
    expect(w).toMatchObject({ event: "CustomEvent", eventName: "checkout-completed", numericValue: 1, user: { keyId: "user-2", name: "User Two" }, applicationType: "dotnet-server-side" })
    expect(r).toMatchObject({ event: "CustomEvent", numericValue: 0.125, timestamp: "2025-06-01T00:00:00.003000Z" })
    expect(r!.properties["user"]).toEqual({ keyId: "user-2", name: "User Two" })
  })

  it("keeps microseconds and reads timestamps as UTC wall-clock values whatever the session time zone", async () => {
    const schema = uniqueName("s")
    const quoted = await createEventsTable(db, schema)
    const id = uuid()
    const props = JSON.parse(flagRow(at(0)).properties as string) as object
    await db.pool.query(`INSERT INTO ${quoted} VALUES ($1, 'd', 'env-a', 'FlagValue', $2::jsonb, '2024-03-10 02:30:00.123456')`, [id, JSON.stringify(props)])
    const pages = await run(
      Effect.flatMap(openSource(sourceConfig(db, schema, { url: `postgres://postgres@localhost:5432/${db.name}?options=-c%20TimeZone%3DAmerica%2FNew_York` })), (source) =>
        readAll(source, undefined, 10)
      )
    )
    expect(pages[0]!.events[0]!.timestamp).toBe("2024-03-10T02:30:00.123456Z")
    expect(pages[0]!.cursor).toEqual({ timestamp: "2024-03-10T02:30:00.123456Z", id })
  })

  it("dead-letters rows that cannot be decoded, with their id and reason, and delivers the rest", async () => {
    const good = flagRow(at(1))
    const noKey = { ...flagRow(at(2)), properties: JSON.stringify({ userKeyId: "u", variationId: "v" }) }
    const aString = { ...flagRow(at(3)), properties: JSON.stringify(JSON.stringify({ featureFlagKey: "f" })) }
    const anArray = { ...metricRow(at(4), 1), properties: "[1,2]" }
    const unknownKind = { ...flagRow(at(5)), event: "Purchase" }
    const noUser = { ...metricRow(at(6), 1), properties: JSON.stringify({ eventName: "e", numericValue: 1 }) }
    const last = metricRow(at(7), 3)
    const rows = [good, noKey, aString, anArray, unknownKind, noUser, last]
    const schema = uniqueName("s")
    const quoted = await createEventsTable(db, schema)
    await insertRows(db, quoted, rows)
    // A row with NULL properties, as the nullable column allows.
    const nullId = uuid()
    await db.pool.query(`INSERT INTO ${quoted} VALUES ($1, 'd', 'env-a', 'FlagValue', NULL, '2025-06-01 00:00:00.0065')`, [nullId])
    const pages = await run(Effect.flatMap(openSource(sourceConfig(db, schema)), (source) => readAll(source, undefined, 3)))
    expect(eventIds(pages)).toEqual([good.id, last.id])
    const rejected = pages.flatMap((page) => page.rejected)
    const reasons = new Map(rejected.map((r) => [r.id, r.reason]))
    expect([...reasons.keys()]).toEqual([noKey.id, aString.id, anArray.id, unknownKind.id, noUser.id, nullId])
    expect(reasons.get(noKey.id)).toMatch(/featureFlagKey is missing/)
    expect(reasons.get(aString.id)).toMatch(/JSON object, found a JSON string/)
    expect(reasons.get(anArray.id)).toMatch(/should be an object, found array/)
    expect(reasons.get(unknownKind.id)).toMatch(/unknown event type "Purchase"/)
    expect(reasons.get(noUser.id)).toMatch(/properties\.user should be an object/)
    expect(reasons.get(nullId)).toMatch(/should be an object, found null/)
    // The cursor moves over rejected rows too: a page of rejections only still has the last row's cursor.
    expect(pages[1]!.events).toEqual([])
    expect(pages[1]!.cursor.id).toBe(noUser.id)
  })

  it("resumes exactly after a committed cursor", async () => {
    const rows = sortByKey(Array.from({ length: 500 }, (_, i) => flagRow(at(Math.floor(i / 7)))))
    const schema = await fresh(rows)
    await run(
      Effect.gen(function* () {
        const source = yield* openSource(sourceConfig(db, schema))
        for (const k of [0, 6, 250, 498, 499]) {
          const from = { timestamp: rows[k]!.timestamp, id: rows[k]!.id }
          const rest = yield* readAll(source, from, 64)
          expect(eventIds(rest)).toEqual(ids(rows.slice(k + 1)))
        }
      })
    )
  })

  it("reads [startAt, endAt) and starts at startAt only without a cursor", async () => {
    const rows = sortByKey(Array.from({ length: 100 }, (_, i) => flagRow(at(i * 1000))))
    const schema = await fresh(rows)
    const window = { startAt: "2025-06-01T00:00:10Z", endAt: "2025-06-01T00:00:20Z" }
    const pages = await run(Effect.flatMap(openSource(sourceConfig(db, schema, window)), (source) => readAll(source, undefined, 3)))
    expect(eventIds(pages)).toEqual(ids(rows.slice(10, 20)))
    const resumed = await run(
      Effect.flatMap(openSource(sourceConfig(db, schema, window)), (source) => readAll(source, { timestamp: rows[4]!.timestamp, id: rows[4]!.id }, 3))
    )
    expect(eventIds(resumed)).toEqual(ids(rows.slice(5, 20)))
  })

  it("refuses endAt at or before startAt", async () => {
    const schema = await fresh([])
    const error = await failure(openSource(sourceConfig(db, schema, { startAt: "2025-06-01T00:00:10Z", endAt: "2025-06-01T00:00:10Z" })))
    expect(error).toBeInstanceOf(SourceError)
    expect((error as SourceError).message).toMatch(/endAt .* must be after startAt/)
  })

  it("exports a table nobody writes to any more to its last row with the default lag", async () => {
    // 60,000 rows of 2025, 1 ms apart: a horizon of "newest row - lag" held back the last 30,000 forever.
    const rows = Array.from({ length: 60_000 }, (_, i) => (i % 2 === 0 ? flagRow(at(i)) : metricRow(at(i), 1)))
    const schema = await fresh(rows)
    const sink = makeRecordingSink()
    const summary = await run(Effect.flatMap(openSource(sourceConfig(db, schema, { lag: "30s" })), (source) => runOnce(source, sink, makeTestStores(), { batchSize: 5000 })))
    expect(summary.exported).toBe(60_000)
    expect(new Set(sink.delivered.map((e) => e.id)).size).toBe(60_000)
  })

  it("holds back rows within lag of the server's clock in UTC, whatever the session's time zone, and exports them later as ordinary rows", async () => {
    const now = await serverNow(db)
    const old = sortByKey(Array.from({ length: 30 }, (_, i) => flagRow(Timestamp.fromMillis(now - 60_000 + i))))
    const recent = sortByKey(Array.from({ length: 10 }, (_, i) => flagRow(Timestamp.fromMillis(now - 100 + i))))
    const schema = await fresh([...old, ...recent])
    // Tokyo is 9 hours ahead of UTC and New York 4 or 5 behind: a horizon taken in the session's zone would
    // read the fresh rows at once in one, and nothing at all in the other.
    const inZone = (zone: string) => sourceConfig(db, schema, { url: `postgres://postgres@localhost:5432/${db.name}?options=-c%20TimeZone%3D${encodeURIComponent(zone)}`, lag: "4s" })
    const stores = makeTestStores()
    const pass = async (zone: string) => {
      const sink = makeRecordingSink()
      const summary = await run(Effect.flatMap(openSource(inZone(zone)), (source) => runOnce(source, sink, stores, { batchSize: 7 })))
      return { ids: sink.delivered.map((e) => e.id), late: summary.late }
    }
    expect((await pass("Asia/Tokyo")).ids).toEqual(ids(old))
    while ((await serverNow(db)) < now + 4_100) await new Promise((resolve) => setTimeout(resolve, 100))
    const second = await pass("America/New_York")
    expect(second.ids).toEqual(ids(recent))
    expect(second.late).toBe(0)
  })

  it("exports a row that lands behind the cursor within lateWindow, counted as late, reading again only it (xmin)", async () => {
    const rows = sortByKey(Array.from({ length: 200 }, (_, i) => flagRow(at(i * 100))))
    const schema = await fresh(rows)
    const stores = makeTestStores()
    await run(Effect.flatMap(openSource(sourceConfig(db, schema)), (source) => runOnce(source, makeRecordingSink(), stores)))
    // Two rows dated 5 s behind the cursor land now, in the same buckets as rows already exported.
    const late = [flagRow(at(15_000)), metricRow(at(15_050), 2)]
    await insertRows(db, `"${schema}"."events"`, late)
    const sink = makeRecordingSink()
    const summary = await run(Effect.flatMap(openSource(sourceConfig(db, schema)), (source) => runOnce(source, sink, stores)))
    expect(sink.delivered.map((e) => e.id)).toEqual(ids(sortByKey(late)))
    expect(summary.late).toBe(2)
    expect(stores.checkpoints.get("test")!.late).toBe(2)
    expect(stores.checkpoints.get("test")!.cursor).toEqual(Cursor.of(rows[199]!))
    const again = makeRecordingSink()
    await run(Effect.flatMap(openSource(sourceConfig(db, schema)), (source) => runOnce(source, again, stores)))
    expect(again.delivered).toEqual([])
  })

  it("reports rows that land further behind the cursor than lateWindow, without exporting them", async () => {
    const rows = sortByKey(Array.from({ length: 300 }, (_, i) => flagRow(at(i * 1000))))
    const schema = await fresh(rows)
    const stores = makeTestStores()
    const config = sourceConfig(db, schema, { lateWindow: "6s" })
    await run(Effect.flatMap(openSource(config), (source) => runOnce(source, makeRecordingSink(), stores)))
    await insertRows(db, `"${schema}"."events"`, [flagRow(at(240_500)), flagRow(at(240_600)), flagRow(at(241_000))])
    const logs: Array<string> = []
    const capture = Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => void logs.push(String(message))))
    const sink = makeRecordingSink()
    const summary = await run(Effect.flatMap(openSource(config), (source) => runOnce(source, sink, stores)).pipe(Effect.provide(capture)))
    expect(sink.delivered).toEqual([])
    expect(summary.missed).toBe(3)
    expect(logs.filter((line) => line.includes("more than lateWindow (6s)")).join("\n")).toMatch(/^3 rows dated 2025-06-01T00:0\d:\d\d\.\d{6}Z to .*not exported/)
  })

  it("reads a table whose schema and table names need quoting", async () => {
    const rows = [flagRow(at(1)), flagRow(at(2))]
    const schema = `my "odd" schema ${uniqueName("q").slice(-8)}`
    const quoted = await createEventsTable(db, schema, "Events; DROP TABLE x")
    await insertRows(db, quoted, rows)
    const pages = await run(Effect.flatMap(openSource(sourceConfig(db, schema, { table: "Events; DROP TABLE x" })), (source) => readAll(source, undefined, 10)))
    expect(eventIds(pages)).toEqual(ids(sortByKey(rows)))
  })

  it("exports through the engine with batchSize overriding the pipeline's page size", async () => {
    const rows = sortByKey(Array.from({ length: 250 }, (_, i) => metricRow(at(i), i / 4)))
    const schema = await fresh(rows)
    const sink = makeRecordingSink()
    const stores = makeTestStores()
    const summary = await run(Effect.flatMap(openSource(sourceConfig(db, schema, { batchSize: 40 })), (source) => runOnce(source, sink, stores, { batchSize: 1000 })))
    expect(summary.exported).toBe(250)
    expect(sink.delivered.map((e) => e.id)).toEqual(ids(rows))
    expect(stores.saves.length).toBe(7)
    expect(stores.checkpoints.get("test")!.cursor).toEqual({ timestamp: rows[249]!.timestamp, id: rows[249]!.id })
  })
})
