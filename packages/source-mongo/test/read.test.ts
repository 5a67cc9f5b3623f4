import { Cursor } from "@featbit-export/core"
import { freePort, makeRecordingSink, makeTestStores, runOnce, startMongoWireServer } from "@featbit-export/testkit"
import { Double, Int32, ObjectId } from "mongodb"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import { afterAll, describe, expect, it } from "vitest"
import { ENV_A, ENV_B, T0, at, flagDoc, ids, metricDoc, readAll, run, ts, uuid } from "./support/docs.js"
import { freshCollection, openSource } from "./support/harness.js"

const server = await startMongoWireServer({ maxBatchSize: 300 })
afterAll(() => server.close())

const fill = (docs: ReadonlyArray<Record<string, unknown>>): string => {
  const collection = freshCollection()
  server.insert("featbit", collection, docs)
  return collection
}

describe("keyset reads", () => {
  it("loses and repeats nothing when 2,500 documents share one timestamp, in pages of 1,000", async () => {
    // Inserted in reverse: the order must come from the sort, not from insertion.
    const docs = Array.from({ length: 2_500 }, (_, i) => flagDoc(2_499 - i, T0))
    const collection = fill(docs)
    const pages = await run(Effect.flatMap(openSource(server, { collection }), (source) => readAll(source, 1_000)))
    expect(pages.map((page) => page.events.length)).toEqual([1_000, 1_000, 500])
    const expected = Array.from({ length: 2_500 }, (_, i) => uuid(i))
    expect(ids(pages)).toEqual(expected)
    expect(pages[0]!.cursor).toEqual({ timestamp: ts(T0), id: uuid(999) })
    // The second page's query asks for the same timestamp with a greater _id.
    const finds = server.commands.filter((c) => c.name === "find" && c.body["find"] === collection && c.body["filter"]?.["$or"] !== undefined)
    expect(finds[0]!.body["filter"]["$or"][1]).toEqual({ timestamp: T0, _id: { $gt: uuid(999) } })
    expect(finds[0]!.body["sort"]).toEqual({ timestamp: 1, _id: 1 })
    expect(finds[0]!.body["limit"]).toBe(1_000)
  })

  it("orders on timestamp first, then on _id as text, as core's Cursor.compare does", async () => {
    const docs = [flagDoc(9, at(1)), flagDoc(1, at(2)), flagDoc(5, at(1)), flagDoc(3, at(0))]
    const collection = fill(docs)
    const pages = await run(Effect.flatMap(openSource(server, { collection }), (source) => readAll(source, 2)))
    const events = pages.flatMap((page) => page.events)
    expect(events.map((e) => e.id)).toEqual([uuid(3), uuid(5), uuid(9), uuid(1)])
    for (let i = 1; i < events.length; i++) expect(Cursor.compare(events[i - 1]!, events[i]!)).toBeLessThan(0)
  })

  it("reads only the configured environments and kinds: the other environment never leaks", async () => {
    const docs = Array.from({ length: 400 }, (_, i) => (i % 3 === 0 ? metricDoc(i, at(i), new Int32(1), i % 2 ? ENV_A : ENV_B) : flagDoc(i, at(i), i % 2 ? ENV_A : ENV_B)))
    const collection = fill(docs)
    const pages = await run(Effect.flatMap(openSource(server, { collection, envIds: [ENV_A] }), (source) => readAll(source, 37)))
    const events = pages.flatMap((page) => page.events)
    expect(events.length).toBe(200)
    expect(new Set(events.map((e) => e.envId))).toEqual(new Set([ENV_A]))
    const flags = await run(Effect.flatMap(openSource(server, { collection, envIds: [ENV_B], events: ["FlagValue"] }), (source) => readAll(source, 50)))
    const flagEvents = flags.flatMap((page) => page.events)
    expect(flagEvents.length).toBe(docs.filter((d) => d["env_id"] === ENV_B && d["event"] === "FlagValue").length)
    expect(flagEvents.every((e) => e.envId === ENV_B && e.event === "FlagValue")).toBe(true)
  })

  it("decodes Int32 and Double numericValue, nested user and the FlagValue fields", async () => {
    const collection = fill([
      metricDoc(1, at(0), new Int32(3)),
      metricDoc(2, at(1), new Double(2.5)),
      metricDoc(3, at(2), new Double(4)),
      flagDoc(4, at(3))
    ])
    const pages = await run(Effect.flatMap(openSource(server, { collection }), (source) => readAll(source, 10)))
    const events = pages.flatMap((page) => page.events)
    expect(events.map((e) => (e.event === "CustomEvent" ? e.numericValue : null))).toEqual([3, 2.5, 4, null])
    const first = events[0]!
    expect(first).toMatchObject({ event: "CustomEvent", eventName: "checkout", user: { keyId: "user-1", name: "Ann" }, envId: ENV_A, distinctId: "user-1", tags: { tag_0: "web" } })
    expect(first.timestamp).toBe("2025-03-01T10:00:00.000000Z")
    expect(events[3]).toMatchObject({ event: "FlagValue", flagKey: "new-checkout", variationId: "v-on", user: { keyId: "user-4", name: "User 4" }, sendToExperiment: true })
  })

  it("dead-letters undecodable documents with their _id and the reason, and delivers the rest", async () => {
    const objectId = new ObjectId("65f000000000000000000001")
    const bad = [
      { ...flagDoc(2, at(1)), properties: '{"route":"/"}' },
      { ...flagDoc(3, at(2)), properties: ["a"] },
      { ...flagDoc(4, at(3)), _id: objectId },
      { ...flagDoc(5, at(4)), _id: 12345 },
      { ...flagDoc(6, at(5)), env_id: null },
      { ...flagDoc(7, at(6)), event: "Unknown" },
      { ...flagDoc(8, at(7)), properties: { route: "/", featureFlagKey: "k", variationId: "v" } }
    ]
    const collection = fill([flagDoc(1, at(0)), ...bad, flagDoc(9, at(8))])
    const pages = await run(Effect.flatMap(openSource(server, { collection }), (source) => readAll(source, 3)))
    expect(ids(pages)).toEqual([uuid(1), uuid(9)])
    const rejected = pages.flatMap((page) => page.rejected)
    expect(rejected.map((r) => r.id)).toEqual([uuid(2), uuid(3), objectId.toHexString(), "12345", uuid(6), uuid(7), uuid(8)])
    expect(rejected.map((r) => r.reason)).toEqual([
      "properties should be an embedded document, found a string",
      "properties should be an embedded document, found an array",
      "_id should be the event's uuid as a string, found ObjectId",
      "_id should be the event's uuid as a string, found a number",
      "env_id should be a string, found null",
      expect.stringContaining("unknown event type"),
      "properties.userKeyId is missing"
    ])
    // The dead-letter record is the document as stored.
    expect((rejected[0]!.raw as Record<string, unknown>)["env_id"]).toBe(ENV_A)
    // Every document is accounted for: the last page's cursor is the last document.
    expect(pages[pages.length - 1]!.cursor).toEqual({ timestamp: ts(at(8)), id: uuid(9) })
  })

  it("never sees documents whose timestamp is not a Date (MongoDB compares within a type)", async () => {
    const collection = fill([flagDoc(1, at(0)), { ...flagDoc(2, at(1)), timestamp: "2025-03-01T10:00:00Z" }, flagDoc(3, at(2))])
    const pages = await run(Effect.flatMap(openSource(server, { collection }), (source) => readAll(source, 10)))
    expect(ids(pages)).toEqual([uuid(1), uuid(3)])
    expect(pages.flatMap((p) => p.rejected)).toEqual([])
  })
})

describe("horizon and window", () => {
  it("exports a collection nobody writes to any more to its last document with the default lag", async () => {
    const collection = fill(Array.from({ length: 3_000 }, (_, i) => flagDoc(i, at(i))))
    const pages = await run(Effect.flatMap(openSource(server, { collection, lag: Duration.seconds(30) }), (source) => readAll(source, 500)))
    expect(ids(pages)).toEqual(Array.from({ length: 3_000 }, (_, i) => uuid(i)))
  })

  it("takes the horizon from the server's clock (hello's localTime), not the runner's", async () => {
    // Documents stamped by the runner's clock a minute ago; the lag is ten minutes.
    const now = Date.now()
    const collection = fill(Array.from({ length: 20 }, (_, i) => flagDoc(i, new Date(now - 60_000 + i))))
    const read = () => run(Effect.flatMap(openSource(server, { collection, lag: Duration.minutes(10) }), (source) => readAll(source, 7)))
    try {
      // A server clock an hour ahead: to the server they are an hour old, past the lag.
      server.setClockOffset(3_600_000)
      expect(ids(await read())).toHaveLength(20)
      // A server clock an hour behind: to the server they lie in the future.
      server.setClockOffset(-3_600_000)
      expect(ids(await read())).toEqual([])
    } finally {
      server.setClockOffset(0)
    }
  })
  it("reads [startAt, endAt) on timestamp, with microsecond bounds rounded the right way", async () => {
    const collection = fill(Array.from({ length: 10 }, (_, i) => flagDoc(i, at(i))))
    const source = openSource(server, {
      collection,
      startAt: "2025-03-01T10:00:00.002000Z" as never,
      endAt: "2025-03-01T10:00:00.006500Z" as never
    })
    const pages = await run(Effect.flatMap(source, (s) => readAll(s, 2)))
    expect(ids(pages)).toEqual([uuid(2), uuid(3), uuid(4), uuid(5), uuid(6)])
    // A cursor between two milliseconds resumes after the earlier one.
    const from = { timestamp: "2025-03-01T10:00:00.003400Z" as never, id: "zzz" }
    const resumed = await run(Effect.flatMap(openSource(server, { collection }), (s) => readAll(s, 4, from)))
    expect(ids(resumed)).toEqual([4, 5, 6, 7, 8, 9].map(uuid))
  })

  it("refuses a cursor committed on another column", async () => {
    const collection = fill([flagDoc(1, at(0))])
    const exit = await Effect.runPromiseExit(
      Effect.scoped(Effect.flatMap(openSource(server, { collection }), (s) => readAll(s, 4, { timestamp: ts(at(0)), id: uuid(0), column: "_timestamp" })))
    )
    expect(exit._tag).toBe("Failure")
    expect(JSON.stringify(exit)).toContain("checkpoints --reset")
  })
})

describe("through the engine", () => {
  it("resumes from the committed cursor: a second run exports only the documents inserted since", async () => {
    const collection = fill(Array.from({ length: 250 }, (_, i) => flagDoc(i, at(i))))
    const stores = makeTestStores()
    const first = makeRecordingSink()
    await run(Effect.flatMap(openSource(server, { collection }), (source) => runOnce(source, first, stores, { batchSize: 100 })))
    expect(first.delivered.length).toBe(250)
    expect(stores.checkpoints.get("test")!.cursor).toEqual({ timestamp: ts(at(249)), id: uuid(249) })
    // Later documents, one of them sharing the last exported timestamp with a greater _id.
    server.insert("featbit", collection, [flagDoc(1_000, at(249)), ...Array.from({ length: 50 }, (_, i) => flagDoc(300 + i, at(300 + i)))])
    const second = makeRecordingSink()
    const summary = await run(Effect.flatMap(openSource(server, { collection }), (source) => runOnce(source, second, stores, { batchSize: 100 })))
    expect(second.delivered.map((e) => e.id)).toEqual([uuid(1_000), ...Array.from({ length: 50 }, (_, i) => uuid(300 + i))])
    expect(summary.exported).toBe(51)
  })
})

describe("late documents", () => {
  it("exports documents that land behind the cursor within lateWindow, counted as late; their bucket is sent again whole", async () => {
    const collection = fill(Array.from({ length: 200 }, (_, i) => flagDoc(i, at(i * 100))))
    const stores = makeTestStores()
    await run(Effect.flatMap(openSource(server, { collection }), (source) => runOnce(source, makeRecordingSink(), stores)))
    // Two documents dated 5 s behind the cursor, in the bucket of [10 s, 20 s) (10 s wide for lateWindow 1h).
    server.insert("featbit", collection, [flagDoc(5_000, at(15_001)), flagDoc(5_001, at(15_002))])
    const sink = makeRecordingSink()
    const summary = await run(Effect.flatMap(openSource(server, { collection }), (source) => runOnce(source, sink, stores)))
    const delivered = sink.delivered.map((e) => e.id)
    expect(summary.late).toBe(2)
    expect(delivered).toContain(uuid(5_000))
    expect(delivered).toContain(uuid(5_001))
    // MongoDB cannot tell new documents from old ones: the rest of the bucket is sent again, nothing else.
    const resent = Array.from({ length: 200 }, (_, i) => i).filter((i) => delivered.includes(uuid(i)))
    expect(resent).toEqual(Array.from({ length: 100 }, (_, i) => 100 + i))
    const again = makeRecordingSink()
    await run(Effect.flatMap(openSource(server, { collection }), (source) => runOnce(source, again, stores)))
    expect(again.delivered).toEqual([])
  })
})

describe("a server that is down when the pipeline starts", () => {
  it("is retried with a fresh client, and the export completes once the server is up (no 'Topology is closed')", async () => {
    const port = await freePort()
    const down = await startMongoWireServer({ port })
    down.insert("featbit", "Events", Array.from({ length: 120 }, (_, i) => flagDoc(i, at(i))))
    await down.stop()
    const url = `mongodb://127.0.0.1:${port}/?directConnection=true&serverSelectionTimeoutMS=400&connectTimeoutMS=400`
    setTimeout(() => void down.start(), 1_500)
    try {
      const sink = makeRecordingSink()
      const summary = await run(
        Effect.flatMap(openSource(down, { url }), (source) =>
          runOnce(source, sink, makeTestStores(), { batchSize: 50, retry: { initialDelay: Duration.millis(100), maxDelay: Duration.millis(300), maxRetries: 20 } })
        ).pipe(Logger.withMinimumLogLevel(LogLevel.Error))
      )
      expect(summary.retries).toBeGreaterThan(0)
      expect(sink.delivered.map((e) => e.id)).toEqual(Array.from({ length: 120 }, (_, i) => uuid(i)))
    } finally {
      await down.close()
    }
  })
})

describe("timestamps", () => {
  it("converts Dates as core's Timestamp.fromDate does, inside and outside the years 0 to 9999", async () => {
    const { timestampOfDate } = await import("../src/Documents.js")
    const { Timestamp } = await import("@featbit-export/core")
    for (const ms of [0, 1, 999, 1_700_000_000_123, -1, -62_167_219_200_001, 253_402_300_800_000, Date.UTC(2024, 1, 29, 23, 59, 59, 999)]) {
      expect(timestampOfDate(new Date(ms)), String(ms)).toBe(Timestamp.fromDate(new Date(ms)))
    }
  })
})
