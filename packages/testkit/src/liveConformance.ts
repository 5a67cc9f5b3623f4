import { type FeatBitRow, type Source, Timestamp } from "@featbit-export/core"
import { generateRows } from "@featbit-export/source-generate"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import type * as Scope from "effect/Scope"
import { describe, expect, it } from "vitest"
import { captureLogs } from "./captureLogs.js"
import { makeRecordingSink } from "./RecordingSink.js"
import { runFollowing } from "./runFollowing.js"
import { makeTestStores, runOnce } from "./runPipeline.js"
import { type TrafficOptions, type TrafficStore, startTraffic } from "./traffic/index.js"

/** One fresh, empty FeatBit table (or collection) in a real store, and a source on it. */
export interface LiveStore {
  /** Inserts rows as FeatBit's servers do (ClickHouse: `_timestamp` = the time of the insert). */
  readonly traffic: TrafficStore
  /** The store's own clock, in ms since the epoch. */
  readonly now: () => Promise<number>
  /** The source on this table, with these keys on top of its connection (`lag`, `lateWindow`, ...). */
  readonly open: (keys: Readonly<Record<string, unknown>>) => Effect.Effect<Source, unknown, Scope.Scope>
}

export interface LiveHarness {
  readonly fresh: () => Promise<LiveStore>
}

// Info lines (every late row found) would bury the test report; warnings stay, and are what a test captures.
const run = <A>(effect: Effect.Effect<A, unknown, Scope.Scope>) => Effect.runPromise(Effect.scoped(effect).pipe(Logger.withMinimumLogLevel(LogLevel.Warning)))
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const idsOf = (rows: ReadonlyArray<{ readonly id: string }>) => rows.map((row) => row.id)

/** Production-shaped rows (thousands of users, dozens of flags), re-stamped `time(i)` ms since the epoch, in keyset order. */
const rowsAt = (count: number, seed: number, time: (i: number) => number): Array<FeatBitRow> =>
  [...generateRows({ count, seed })]
    .map((row, i) => ({ ...row, timestamp: Timestamp.fromMillis(time(i)) }))
    .sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : a.id < b.id ? -1 : 1))

/**
 * Writes live traffic into the store for `forMs`, follows it with the source (with this `lag`) until every
 * row written has been delivered (or 20 s passed), and returns what was written, delivered and summed up.
 */
const followTraffic = async (store: LiveStore, options: TrafficOptions, forMs: number, lag: string) => {
  const traffic = startTraffic(store.traffic, options)
  let stopped = false
  setTimeout(() => void traffic.stop().then(() => void (stopped = true)), forMs)
  const sink = makeRecordingSink()
  const delivered = new Set<string>()
  const result = await run(
    Effect.flatMap(store.open({ lag }), (source) =>
      runFollowing(source, sink, makeTestStores(), {
        batchSize: 500,
        until: () => {
          for (const event of sink.delivered) delivered.add(event.id)
          return stopped && traffic.written().every((row) => delivered.has(row.id))
        },
        timeoutMs: 20_000
      })
    )
  )
  return { written: traffic.written(), late: traffic.late(), delivered: sink.delivered, ...result }
}

/**
 * The behaviour on live and quiet data every database source must show, against its real store: the
 * horizon follows the store's clock, rows stamped inside the lag are not overtaken, rows that land behind
 * the cursor are exported (within lateWindow) or reported (beyond it), and an export is repeatable. Call it
 * inside a vitest file: `liveConformance("postgres", harness)`.
 */
export const liveConformance = (name: string, harness: LiveHarness): void => {
  describe(`live data conformance: ${name}`, () => {
    it("exports a historical table to its last row in one --once run with the default lag, the same way twice", async () => {
      const store = await harness.fresh()
      const rows = [...generateRows({ count: 20_000, seed: 31 })]
      await store.traffic.insert(rows)
      const first = makeRecordingSink()
      const summary = await run(Effect.flatMap(store.open({}), (source) => runOnce(source, first, makeTestStores(), { batchSize: 5_000 })))
      expect(summary.exported).toBe(rows.length)
      expect(idsOf(first.delivered)).toEqual(idsOf(rows))
      const second = makeRecordingSink()
      await run(Effect.flatMap(store.open({}), (source) => runOnce(source, second, makeTestStores(), { batchSize: 777 })))
      expect(idsOf(second.delivered)).toEqual(idsOf(first.delivered))
    })

    it("follows live traffic, then exports the quiet tail without newer rows coming", async () => {
      const store = await harness.fresh()
      const { written, delivered, timedOut, summary } = await followTraffic(store, { rate: 400, flushInterval: 200, sdkDelay: { min: 0, max: 300 }, seed: 32 }, 2_500, "3s")
      expect(written.length).toBeGreaterThan(600)
      expect(timedOut).toBe(false)
      expect(new Set(idsOf(delivered))).toEqual(new Set(idsOf(written)))
      expect(delivered.length).toBe(written.length)
      expect(summary.late).toBe(0)
    })

    it("does not overtake rows stamped within lag of the store's clock, and exports them once they are older", async () => {
      const store = await harness.fresh()
      const now = await store.now()
      const old = rowsAt(50, 33, (i) => now - 30_000 + i * 10)
      const recent = rowsAt(50, 34, (i) => now - 100 + i)
      await store.traffic.insert([...old, ...recent])
      const stores = makeTestStores()
      const first = makeRecordingSink()
      await run(Effect.flatMap(store.open({ lag: "4s" }), (source) => runOnce(source, first, stores)))
      expect(idsOf(first.delivered)).toEqual(idsOf(old))
      while ((await store.now()) < now + 4_100) await sleep(100)
      const second = makeRecordingSink()
      const summary = await run(Effect.flatMap(store.open({ lag: "4s" }), (source) => runOnce(source, second, stores)))
      expect(idsOf(second.delivered)).toEqual(idsOf(recent))
      expect(summary.late).toBe(0)
    })

    it("exports rows that land behind the cursor within lateWindow, counts them as late, and sends nothing new twice", async () => {
      const store = await harness.fresh()
      const now = await store.now()
      // Eighteen minutes of history up to two minutes ago.
      const history = rowsAt(4_000, 35, (i) => now - 20 * 60_000 + i * 270)
      await store.traffic.insert(history)
      const stores = makeTestStores()
      await run(Effect.flatMap(store.open({}), (source) => runOnce(source, makeRecordingSink(), stores, { batchSize: 1_000 })))
      const cursor = Date.parse(stores.checkpoints.get("test")!.cursor.timestamp.slice(0, 23) + "Z")
      // A phone comes back online: 25 events of the last ten minutes, all behind the cursor.
      const late = rowsAt(25, 36, (i) => cursor - 10_000 - i * 23_000)
      await store.traffic.insert(late)
      const sink = makeRecordingSink()
      const summary = await run(Effect.flatMap(store.open({}), (source) => runOnce(source, sink, stores, { batchSize: 1_000 })))
      const delivered = new Set(idsOf(sink.delivered))
      for (const row of late) expect(delivered.has(row.id)).toBe(true)
      expect(summary.late).toBe(25)
      expect(stores.checkpoints.get("test")!.late).toBe(25)
      // Anything else sent is history sent again with its own id (a store that cannot tell new rows apart).
      const known = new Set(idsOf([...history, ...late]))
      for (const id of delivered) expect(known.has(id)).toBe(true)
      const again = makeRecordingSink()
      await run(Effect.flatMap(store.open({}), (source) => runOnce(source, again, stores)))
      expect(again.delivered).toEqual([])
    })

    it("reports rows that land further behind than lateWindow, with how late they came, without exporting them", async () => {
      const store = await harness.fresh()
      const now = await store.now()
      const history = rowsAt(600, 37, (i) => now - 10 * 60_000 + i * 900)
      await store.traffic.insert(history)
      const stores = makeTestStores()
      await run(Effect.flatMap(store.open({ lateWindow: "6s" }), (source) => runOnce(source, makeRecordingSink(), stores)))
      const cursor = Date.parse(stores.checkpoints.get("test")!.cursor.timestamp.slice(0, 23) + "Z")
      const tooLate = rowsAt(3, 38, (i) => cursor - 90_000 + i)
      await store.traffic.insert(tooLate)
      const logs = captureLogs()
      const sink = makeRecordingSink()
      const summary = await run(Effect.flatMap(store.open({ lateWindow: "6s" }), (source) => runOnce(source, sink, stores)).pipe(Effect.provide(logs.layer)))
      expect(sink.delivered).toEqual([])
      expect(summary.missed).toBe(3)
      const warning = logs.lines.find((line) => line.includes("more than lateWindow (6s)"))
      expect(warning).toMatch(/^3 rows dated \S+ to \S+ landed after the cursor had passed them by more than lateWindow \(6s\): (\d+[hms] ?)+ to (\d+[hms] ?)+ behind the cursor/)
      expect(warning).toMatch(/lateWindow: \d+[smh] would have exported them as late rows/)
    })

    it("loses nothing of live traffic with late rows in it, and counts the late ones", async () => {
      const store = await harness.fresh()
      const traffic = { rate: 300, flushInterval: 200, lateShare: 0.05, lateBy: { min: 5_000, max: 20_000 }, seed: 39 }
      const { written, late, delivered, timedOut, summary } = await followTraffic(store, traffic, 3_000, "1s")
      expect(timedOut).toBe(false)
      expect(new Set(idsOf(delivered))).toEqual(new Set(idsOf(written)))
      // Every late row of the traffic lands 5 to 20 s behind a cursor that trails the store by about 1 s: it
      // is found behind the cursor and counted. (The count can be higher: an ordinary row whose insert took
      // longer than the lag lands behind the cursor too, and a row that lands while its bucket is being read
      // again is counted, and sent, once more at the next pass.)
      expect(late.length).toBeGreaterThan(10)
      expect(summary.late).toBeGreaterThanOrEqual(Math.floor(late.length / 2))
    })
  })
}
