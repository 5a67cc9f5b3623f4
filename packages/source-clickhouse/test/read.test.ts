import { Cursor, type FeatBitRow, type SourceError, Timestamp } from "@featbit-export/core"
import { generateRows } from "@featbit-export/source-generate"
import { makeRecordingSink, makeTestStores, runOnce } from "@featbit-export/testkit"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import type * as Scope from "effect/Scope"
import { afterAll, describe, expect, it } from "vitest"
import { closeEngine, engineNow, freshTable, insertRows, openChdbSource } from "./support/chdb.js"
import { at, eventIds, ids, readAll, rowsAt, sortByKey } from "./support/rows.js"

afterAll(closeEngine)

const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>): Promise<A> => Effect.runPromise(Effect.scoped(effect))

/** The failure of an effect that must fail with a SourceError. */
const failure = <A>(effect: Effect.Effect<A, unknown, Scope.Scope>): Promise<SourceError> =>
  Effect.runPromise(Effect.scoped(Effect.flip(effect))) as Promise<SourceError>

describe("reading FeatBit's events table from an embedded ClickHouse", () => {
  it("reads 2,500 rows sharing one timestamp in pages of 1,000: none lost, none repeated", async () => {
    const rows = rowsAt(2500, () => at(0, 123_456))
    const where = await freshTable(rows)
    const pages = await run(Effect.flatMap(openChdbSource(where), (source) => readAll(source, undefined, 1000)))
    expect(pages.map((page) => page.events.length)).toEqual([1000, 1000, 500])
    const seen = eventIds(pages)
    expect(new Set(seen).size).toBe(2500)
    expect(seen).toEqual(ids(sortByKey(rows)))
    for (const page of pages) {
      const last = page.events[page.events.length - 1]!
      expect(page.cursor).toEqual({ timestamp: at(0, 123_456), id: last.id })
    }
    // Microseconds survive the round trip through DateTime64(6).
    expect(pages[0]!.events[0]!.timestamp).toBe("2024-03-01T00:00:00.123456Z")
    // Resuming inside the tie group continues inside it.
    const rest = await run(Effect.flatMap(openChdbSource(where), (source) => readAll(source, pages[0]!.cursor, 1000)))
    expect(eventIds(rest)).toEqual(seen.slice(1000))
  })

  it("uses batchSize for its pages, whatever the pipeline's page size", async () => {
    const rows = rowsAt(1000, (i) => at(i))
    const where = await freshTable(rows)
    const pages = await run(Effect.flatMap(openChdbSource(where, { batchSize: 300 }), (source) => readAll(source, undefined, 5000)))
    expect(pages.map((page) => page.events.length)).toEqual([300, 300, 300, 100])
  })

  it("reads only the configured environments, and the other never leaks", async () => {
    const envA = "4b1e6e8e-aaaa-4f3b-9c51-0a1b2c3d4e5f"
    const envB = "9f00d0d0-bbbb-4e2a-8d40-5e6f7a8b9c0d"
    const rows = [...generateRows({ count: 900, seed: 31, envIds: [envA, envB] })]
    const where = await freshTable(rows)
    for (const env of [envA, envB]) {
      const pages = await run(Effect.flatMap(openChdbSource(where, { envIds: [env] }), (source) => readAll(source, undefined, 128)))
      const events = pages.flatMap((page) => page.events)
      const expected = rows.filter((row) => row.envId === env)
      expect(expected.length).toBeGreaterThan(100)
      expect(events.map((event) => event.id)).toEqual(ids(sortByKey(expected)))
      expect(events.every((event) => event.envId === env)).toBe(true)
    }
    const both = await run(Effect.flatMap(openChdbSource(where, { envIds: [envA, envB] }), (source) => readAll(source, undefined, 128)))
    expect(eventIds(both)).toEqual(ids(rows))
  })

  it("reads only the configured event kinds", async () => {
    const rows = [...generateRows({ count: 1200, seed: 32 })]
    const where = await freshTable(rows)
    const pages = await run(Effect.flatMap(openChdbSource(where, { events: ["CustomEvent", "Click"] }), (source) => readAll(source, undefined, 100)))
    const expected = rows.filter((row) => row.event === "CustomEvent" || row.event === "Click")
    expect(expected.length).toBeGreaterThan(50)
    expect(eventIds(pages)).toEqual(ids(expected))
    expect(new Set(pages.flatMap((page) => page.events.map((event) => event.event)))).toEqual(new Set(["CustomEvent", "Click"]))
  })

  it("keeps unicode and quotes intact in database, table and environment names and in values", async () => {
    const odd = `env "double" 'single' \\back\`tick\` ü 李 🚀`
    const rows = [...generateRows({ count: 400, seed: 33, envIds: [odd, "plain"] })]
    const where = await freshTable(rows, { database: `fb "db" 'ü' \`x\``, table: `ev'en"ts 🚀` })
    const pages = await run(Effect.flatMap(openChdbSource(where, { envIds: [odd] }), (source) => readAll(source, undefined, 64)))
    const events = pages.flatMap((page) => page.events)
    const expected = rows.filter((row) => row.envId === odd)
    expect(events.map((event) => event.id)).toEqual(ids(expected))
    const byId = new Map(expected.map((row) => [row.id, row]))
    for (const event of events) {
      const row = byId.get(event.id)!
      expect(event.envId).toBe(odd)
      expect(event.distinctId).toBe(row.distinctId)
      // The properties come back byte for byte: the decoded object equals the stored JSON's.
      expect(event.properties).toEqual(JSON.parse(row.properties as string))
    }
    const names = events.map((event) => event.user.name)
    expect(names.some((name) => /[^\x00-\x7f]/.test(name))).toBe(true)
    expect(names.some((name) => /['"\\]/.test(name))).toBe(true)
  })

  it("dead-letters rows whose properties cannot be decoded, with their uuid and reason, and exports the rest", async () => {
    const generated = [...generateRows({ count: 400, seed: 34, malformedEvery: 9 })]
    // Beyond the generator's breakage: text that is no JSON at all, and JSON that is no object.
    const extra: Array<FeatBitRow> = rowsAt(2, (i) => Timestamp.fromMicros(Timestamp.toMicros(generated[generated.length - 1]!.timestamp) + BigInt(i + 1)))
      .map((row, i) => ({ ...row, properties: i === 0 ? "not json {" : "[1,2,3]" }))
    const rows = [...generated, ...extra]
    const broken = new Set([...generated.filter((_, i) => (i + 1) % 9 === 0).map((row) => row.id), ...extra.map((row) => row.id)])
    const where = await freshTable(rows)
    const sink = makeRecordingSink()
    const stores = makeTestStores()
    const summary = await run(Effect.flatMap(openChdbSource(where), (source) => runOnce(source, sink, stores, { batchSize: 50 })))
    expect(sink.delivered.map((event) => event.id)).toEqual(ids(rows.filter((row) => !broken.has(row.id))))
    expect(new Set(stores.deadLetters.map((letter) => letter.id))).toEqual(broken)
    expect(summary.deadLettered).toBe(broken.size)
    const notJson = stores.deadLetters.find((letter) => letter.id === extra[0]!.id)!
    expect(notJson.reason).toMatch(/JSON/)
    expect(notJson.stage).toBe("source")
    // The cursor passed the dead-lettered rows too: the last row was one of them.
    expect(stores.checkpoints.get("test")!.cursor).toEqual({ timestamp: extra[1]!.timestamp, id: extra[1]!.id })
  })

  it("resumes from the committed cursor: a second run exports the rows added since, those behind the cursor as late rows", async () => {
    const first = rowsAt(500, (i) => at(i))
    const where = await freshTable(first)
    const stores = makeTestStores()
    const sink1 = makeRecordingSink()
    await run(Effect.flatMap(openChdbSource(where), (source) => runOnce(source, sink1, stores, { batchSize: 120 })))
    expect(sink1.delivered.map((event) => event.id)).toEqual(ids(first))
    // New rows, including ones sharing the last committed timestamp (after it in uuid order or not), taken in
    // now (their _timestamp), as FeatBit's Kafka engine would.
    const now = Timestamp.fromMillis(await engineNow())
    const later = rowsAt(300, (i) => (i < 40 ? at(499) : at(500 + i)), { seed: 8, ingested: () => now })
    await insertRows(where, later, 1000)
    const lastCommitted = stores.checkpoints.get("test")!.cursor
    const sink2 = makeRecordingSink()
    const summary = await run(Effect.flatMap(openChdbSource(where), (source) => runOnce(source, sink2, stores, { batchSize: 120 })))
    // Rows of the tie at 499 that sort before the committed uuid landed behind the cursor: read again first,
    // and only they (the read is narrowed on _timestamp); then the rows after the cursor, in keyset order.
    const behind = sortByKey(later.filter((row) => Cursor.compare(row, lastCommitted) <= 0))
    const ahead = sortByKey([...first, ...later]).filter((row) => Cursor.compare(row, lastCommitted) > 0)
    expect(behind.length).toBeGreaterThan(0)
    expect(sink2.delivered.map((event) => event.id)).toEqual([...ids(behind), ...ids(ahead)])
    expect(summary.exported).toBe(300)
    expect(summary.late).toBe(behind.length)
    expect(stores.checkpoints.get("test")!.late).toBe(behind.length)
  })

  it("fails with a clear sentence when the table does not exist", async () => {
    const where = await freshTable([])
    const error = await failure(Effect.flatMap(openChdbSource({ ...where, table: "no_such_table" }), (source) => readAll(source, undefined, 10)))
    expect(error.retryable).toBe(false)
    expect(error.message).toContain(`${where.database}.no_such_table does not exist`)
    expect(error.message).toMatch(/set the source's table/)
  })
})

describe("startAt and endAt", () => {
  // One row a second for 100 seconds, and five rows sharing each window edge.
  const rows = [
    ...rowsAt(100, (i) => at(i)),
    ...rowsAt(5, () => at(20), { seed: 9 }),
    ...rowsAt(5, () => at(60), { seed: 10 })
  ]
  const inWindow = sortByKey(rows.filter((row) => row.timestamp >= at(20) && row.timestamp < at(60)))

  it("exports exactly the rows in [startAt, endAt), then has nothing more to read", async () => {
    const where = await freshTable(rows)
    const stores = makeTestStores()
    const sink = makeRecordingSink()
    // The default lag (30s) leaves the window alone: its end is far behind the server's clock.
    const config = { startAt: "2024-03-01 00:00:20", endAt: "2024-03-01T00:01:00Z", lag: "30s" }
    await run(Effect.flatMap(openChdbSource(where, config), (source) => runOnce(source, sink, stores, { batchSize: 7 })))
    expect(sink.delivered.map((event) => event.id)).toEqual(ids(inWindow))
    expect(inWindow.filter((row) => row.timestamp === at(20))).toHaveLength(6)
    const again = makeRecordingSink()
    const summary = await run(Effect.flatMap(openChdbSource(where, config), (source) => runOnce(source, again, stores)))
    expect(summary.exported).toBe(0)
  })

  it("never reads rows at or after endAt, even those added later", async () => {
    const where = await freshTable(rows.slice(0, 50))
    const config = { endAt: "2024-03-01T00:00:30Z" }
    const first = await run(Effect.flatMap(openChdbSource(where, config), (source) => readAll(source, undefined, 1000)))
    expect(eventIds(first)).toEqual(ids(sortByKey(rows.slice(0, 50)).filter((row) => row.timestamp < at(30))))
    await insertRows(where, rows.slice(50), 50)
    const after = await run(Effect.flatMap(openChdbSource(where, config), (source) => readAll(source, first[first.length - 1]!.cursor, 1000)))
    expect(eventIds(after)).toEqual([])
  })

  it("refuses a window that ends before it starts", async () => {
    const where = await freshTable([])
    const error = await failure(openChdbSource(where, { startAt: "2024-03-01T00:01:00Z", endAt: "2024-03-01T00:00:00Z" }))
    expect(error.retryable).toBe(false)
    expect(error.message).toMatch(/endAt .* must be after startAt/)
  })
})

describe("the horizon follows the server's clock", () => {
  it("exports a table nobody writes to any more to its last row with the default lag", async () => {
    // Rows of 2024, 1 ms apart: with a horizon of "newest row - lag" the last 30 s would wait forever.
    const rows = rowsAt(40_000, (i) => Timestamp.fromMicros(Timestamp.toMicros(at(0)) + BigInt(i) * 1000n), { maxTie: 1 })
    const where = await freshTable(rows)
    const sink = makeRecordingSink()
    const summary = await run(Effect.flatMap(openChdbSource(where, { lag: "30s" }), (source) => runOnce(source, sink, makeTestStores(), { batchSize: 5000 })))
    expect(summary.exported).toBe(40_000)
    expect(sink.delivered.map((event) => event.id)).toEqual(ids(rows))
  })

  it("holds back rows stamped within lag of the server's clock, and exports them as ordinary rows once they are older", async () => {
    const now = await engineNow()
    const old = rowsAt(50, (i) => Timestamp.fromMillis(now - 60_000 + i * 100), { seed: 21 })
    const fresh = rowsAt(20, (i) => Timestamp.fromMillis(now - 200 + i), { seed: 22 })
    const where = await freshTable([...old, ...fresh])
    const stores = makeTestStores()
    const pass = async () => {
      const sink = makeRecordingSink()
      const summary = await run(Effect.flatMap(openChdbSource(where, { lag: "4s" }), (source) => runOnce(source, sink, stores, { batchSize: 16 })))
      return { ids: sink.delivered.map((event) => event.id), late: summary.late }
    }
    expect((await pass()).ids).toEqual(ids(sortByKey(old)))
    // Wait until the server's clock is past the fresh rows by more than the lag.
    while ((await engineNow()) < now + 4_100) await new Promise((resolve) => setTimeout(resolve, 100))
    const second = await pass()
    expect(second.ids).toEqual(ids(sortByKey(fresh)))
    expect(second.late).toBe(0)
  })
})

describe("late rows", () => {
  it("exports a row that lands behind the cursor within lateWindow, counted as late, reading only it again", async () => {
    const early = rowsAt(101, (i) => at(i))
    const where = await freshTable(early)
    const stores = makeTestStores()
    const sink = makeRecordingSink()
    await run(Effect.flatMap(openChdbSource(where), (source) => runOnce(source, sink, stores)))
    expect(sink.delivered).toHaveLength(101)
    // An event of 50 s arrives now (its _timestamp): 50 s behind the cursor, within the default lateWindow (1h).
    const now = Timestamp.fromMillis(await engineNow())
    const late = rowsAt(1, () => at(50, 1000), { seed: 13, ingested: () => now })
    await insertRows(where, late, 500)
    const second = makeRecordingSink()
    const summary = await run(Effect.flatMap(openChdbSource(where), (source) => runOnce(source, second, stores)))
    expect(second.delivered.map((event) => event.id)).toEqual([late[0]!.id])
    expect(summary.late).toBe(1)
    expect(stores.checkpoints.get("test")!.cursor).toEqual(Cursor.of(early[100]!))
    // Nothing new: a third run reads nothing again.
    const third = makeRecordingSink()
    await run(Effect.flatMap(openChdbSource(where), (source) => runOnce(source, third, stores)))
    expect(third.delivered).toEqual([])
  })

  it("still exports a late row whose _timestamp is old (a misleading ingest time): its bucket is read whole", async () => {
    const early = rowsAt(101, (i) => at(i))
    const where = await freshTable(early)
    const stores = makeTestStores()
    await run(Effect.flatMap(openChdbSource(where), (source) => runOnce(source, makeRecordingSink(), stores)))
    const late = rowsAt(1, () => at(50, 1000), { seed: 14, ingested: () => at(51) })
    await insertRows(where, late, 500)
    const second = makeRecordingSink()
    const summary = await run(Effect.flatMap(openChdbSource(where), (source) => runOnce(source, second, stores)))
    const delivered = second.delivered.map((event) => event.id)
    expect(delivered).toContain(late[0]!.id)
    expect(summary.late).toBe(1)
    // What was sent again is the late row's own bucket (10 s wide with the default lateWindow), nothing else.
    const bucket = (t: Timestamp.Timestamp) => Math.floor(Date.parse(t.slice(0, 23) + "Z") / 10_000)
    const resent = early.filter((row) => delivered.includes(row.id))
    expect(resent.length).toBeGreaterThan(0)
    for (const row of resent) expect(bucket(row.timestamp)).toBe(bucket(late[0]!.timestamp))
  })

  it("reports rows that land further behind the cursor than lateWindow, once, without exporting them", async () => {
    // Five minutes of rows, one per second: the cursor passes far beyond a lateWindow of 6 seconds.
    const early = rowsAt(300, (i) => at(i))
    const where = await freshTable(early)
    const stores = makeTestStores()
    const open = openChdbSource(where, { lateWindow: "6s" })
    await run(Effect.flatMap(open, (source) => runOnce(source, makeRecordingSink(), stores)))
    // Two rows dated a minute behind the cursor arrive now.
    const now = Timestamp.fromMillis(await engineNow())
    const tooLate = rowsAt(2, (i) => at(240, 1000 + i), { seed: 15, ingested: () => now })
    await insertRows(where, tooLate, 5000)
    const logs: Array<string> = []
    const capture = Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => void logs.push(String(message))))
    const second = makeRecordingSink()
    const summary = await run(Effect.flatMap(open, (source) => runOnce(source, second, stores)).pipe(Effect.provide(capture)))
    expect(second.delivered).toEqual([])
    expect(summary.missed).toBe(2)
    expect(stores.checkpoints.get("test")!.missed).toBe(2)
    const warning = logs.find((line) => line.includes("landed after the cursor had passed them by more than lateWindow (6s)"))
    expect(warning).toMatch(/^2 rows dated 2024-03-01T00:0\d:\d\d\.\d{6}Z to /)
    expect(warning).toMatch(/lateWindow: \d+[smh] would have exported them as late rows/)
    // The next audit (due after a sixth of lateWindow) knows them: they are reported once.
    const auditedAt = () => (stores.checkpoints.get("test")!.state as { audit: { at: string } }).audit.at
    const firstAudit = auditedAt()
    await new Promise((resolve) => setTimeout(resolve, 1_100))
    logs.length = 0
    const third = await run(Effect.flatMap(open, (source) => runOnce(source, makeRecordingSink(), stores)).pipe(Effect.provide(capture)))
    expect(auditedAt() > firstAudit).toBe(true)
    expect(third.missed).toBe(0)
    expect(logs.some((line) => line.includes("more than lateWindow"))).toBe(false)
  })
})

describe("cursorColumn: _timestamp", () => {
  // Event times run backwards while ingest times run forwards, three rows per ingest second.
  const rows = rowsAt(90, (i) => at(1000 - i), { ingested: (i) => at(2000 + Math.floor(i / 3)) })
  const byIngest = [...rows].sort((a, b) => Cursor.compare({ timestamp: a.ingestedAt!, id: a.id }, { timestamp: b.ingestedAt!, id: b.id }))

  it("orders and resumes on the ingest time, and every cursor says so", async () => {
    const where = await freshTable(rows)
    const pages = await run(Effect.flatMap(openChdbSource(where, { cursorColumn: "_timestamp" }), (source) => readAll(source, undefined, 20)))
    expect(eventIds(pages)).toEqual(ids(byIngest))
    for (const page of pages) {
      const last = page.events[page.events.length - 1]!
      expect(page.cursor).toEqual({ timestamp: last.ingestedAt, id: last.id, column: "_timestamp" })
    }
    const rest = await run(Effect.flatMap(openChdbSource(where, { cursorColumn: "_timestamp" }), (source) => readAll(source, pages[1]!.cursor, 20)))
    expect(eventIds(rest)).toEqual(ids(byIngest).slice(40))
  })

  it("exports a late event (old event time, new ingest time) that a timestamp cursor passes by", async () => {
    const where = await freshTable(rows)
    const ingestStores = makeTestStores()
    const eventStores = makeTestStores()
    const exportWith = async (cursorColumn: string, stores: ReturnType<typeof makeTestStores>) => {
      const sink = makeRecordingSink()
      await run(Effect.flatMap(openChdbSource(where, { cursorColumn }), (source) => runOnce(source, sink, stores)))
      return sink.delivered.map((event) => event.id)
    }
    expect(await exportWith("_timestamp", ingestStores)).toHaveLength(90)
    expect(await exportWith("timestamp", eventStores)).toHaveLength(90)
    // An SDK sends an event from long ago: its event time is old, its ingest time is now.
    const late = rowsAt(1, () => at(950, 7), { seed: 15, ingested: () => at(3000) })
    await insertRows(where, late, 100)
    expect(await exportWith("_timestamp", ingestStores)).toEqual([late[0]!.id])
    // On the event time it lands behind the cursor: found by the late-row check, and exported too.
    expect(await exportWith("timestamp", eventStores)).toContain(late[0]!.id)
  })

  it("refuses a committed cursor taken on the other column, with a sentence saying what to do", async () => {
    const where = await freshTable(rows)
    const eventCursor: Cursor.Cursor = { timestamp: at(990), id: rows[10]!.id }
    const onIngest = await failure(Effect.flatMap(openChdbSource(where, { cursorColumn: "_timestamp" }), (source) => readAll(source, eventCursor, 10)))
    expect(onIngest.retryable).toBe(false)
    expect(onIngest.message).toMatch(/committed cursor is a position on the column timestamp, but cursorColumn is _timestamp/)
    expect(onIngest.message).toMatch(/checkpoints --reset/)
    const onEvent = await failure(Effect.flatMap(openChdbSource(where), (source) => readAll(source, { ...eventCursor, column: "_timestamp" }, 10)))
    expect(onEvent.retryable).toBe(false)
    expect(onEvent.message).toMatch(/column _timestamp, but cursorColumn is timestamp/)
  })
})

describe("time windows", () => {
  it("reads rows years apart, and tie groups larger than a page, in keyset order", async () => {
    const year = (y: number, seconds: number) => Timestamp.fromMicros(Timestamp.toMicros(Timestamp.parse(`${y}-06-01T00:00:00Z`)!) + BigInt(seconds) * 1_000_000n)
    const rows = [
      ...rowsAt(7, (i) => year(2019, i * 86_400 * 40), { seed: 16 }), // sparse, weeks apart
      ...rowsAt(1500, (i) => year(2024, Math.floor(i / 500)), { seed: 17 }), // three ties of 500
      ...rowsAt(400, (i) => year(2024, 10 + i), { seed: 18 }), // dense
      ...rowsAt(3, (i) => year(2026, i), { seed: 19 }) // alone, years later
    ]
    const where = await freshTable(rows)
    const pages = await run(Effect.flatMap(openChdbSource(where), (source) => readAll(source, undefined, 173)))
    const seen = eventIds(pages)
    expect(seen).toEqual(ids(sortByKey(rows)))
    expect(pages.slice(0, -1).every((page) => page.events.length === 173)).toBe(true)
  })

  it("loses nothing when the density jumps a thousandfold inside a window, and back", async () => {
    // One row a minute for two hours, 3,000 rows within two seconds, then one a minute again.
    const rows = [
      ...rowsAt(120, (i) => at(i * 60), { seed: 20 }),
      ...rowsAt(3000, (i) => at(7200, Math.floor((i * 2_000_000) / 3000)), { seed: 21 }),
      ...rowsAt(120, (i) => at(7202 + i * 60), { seed: 22 })
    ]
    const where = await freshTable(rows)
    for (const pageSize of [13, 250]) {
      const pages = await run(Effect.flatMap(openChdbSource(where), (source) => readAll(source, undefined, pageSize)))
      expect(eventIds(pages)).toEqual(ids(sortByKey(rows)))
      expect(pages.slice(0, -1).every((page) => page.events.length === pageSize)).toBe(true)
    }
  })
})
