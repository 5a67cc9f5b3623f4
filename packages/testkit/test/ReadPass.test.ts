import type { CheckpointStore, FeatBitRow, Source } from "@featbit-export/core"
import { Timestamp, readPass } from "@featbit-export/core"
import { generateRows } from "@featbit-export/source-generate"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import { describe, expect, it } from "vitest"
import { makeMemoryStore } from "../src/MemoryStore.js"
import { makeRecordingSink } from "../src/RecordingSink.js"
import { makeTestStores, runOnce } from "../src/runPipeline.js"

const T0 = Date.parse("2025-05-01T00:00:00.000Z")

/** Generated FeatBit rows (production-shaped) re-stamped `time(i)` ms after T0. */
const rowsAt = (count: number, time: (i: number) => number, seed = 1): Array<FeatBitRow> =>
  [...generateRows({ count, seed })].map((row, i) => ({ ...row, timestamp: Timestamp.fromMillis(T0 + time(i)) }))

const settings = { startAt: undefined, endAt: undefined, lag: Duration.seconds(30), lateWindow: Duration.hours(1), batchSize: undefined }

const sourceOn = (store: ReturnType<typeof makeMemoryStore>, overrides: Partial<typeof settings> = {}, selection?: Source["selection"]): Source => ({
  read: (from, options) => readPass(store, { ...settings, ...overrides }, from, options),
  ...(selection === undefined ? {} : { selection })
})

const logged = () => {
  const lines: Array<string> = []
  return { lines, layer: Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => void lines.push(String(message)))) }
}

describe("a pass over a store", () => {
  it("reads up to the store's clock minus lag, and reads the rest once the clock has moved on", async () => {
    const store = makeMemoryStore({ clock: T0 + 100_000 })
    const rows = rowsAt(100, (i) => i * 1000) // 0 s .. 99 s
    store.insert(rows)
    const stores = makeTestStores()
    const first = makeRecordingSink()
    await Effect.runPromise(runOnce(sourceOn(store), first, stores))
    // Horizon 70 s: rows at 0..70 s.
    expect(first.delivered.map((e) => e.id)).toEqual(rows.slice(0, 71).map((r) => r.id))
    store.setClock(T0 + 200_000)
    const second = makeRecordingSink()
    const summary = await Effect.runPromise(runOnce(sourceOn(store), second, stores))
    expect(second.delivered.map((e) => e.id)).toEqual(rows.slice(71).map((r) => r.id))
    expect(summary.late).toBe(0)
  })

  it("exports rows that land behind the cursor with their own ids, counted as late, and only them where the store narrows", async () => {
    const store = makeMemoryStore({ clock: T0 + 3_600_000, narrows: "runs" })
    const rows = rowsAt(2_000, (i) => i * 1000)
    store.insert(rows)
    const stores = makeTestStores()
    await Effect.runPromise(runOnce(sourceOn(store), makeRecordingSink(), stores))
    const late = rowsAt(7, (i) => 1_500_000 + i * 70_000, 2) // 1500 s .. 1920 s: behind the cursor (1999 s), within the hour
    store.insert(late)
    const sink = makeRecordingSink()
    const summary = await Effect.runPromise(runOnce(sourceOn(store), sink, stores))
    expect(sink.delivered.map((e) => e.id).sort()).toEqual(late.map((r) => r.id).sort())
    expect(summary.late).toBe(7)
    expect(stores.checkpoints.get("test")!.late).toBe(7)
    // The cursor did not move back.
    expect(stores.checkpoints.get("test")!.cursor.id).toBe(rows[1999]!.id)
  })

  it("reads a grown bucket whole where the store cannot narrow, or where narrowing finds fewer rows than the count says", async () => {
    for (const narrows of [false, "runs", "span"] as const) {
      const store = makeMemoryStore({ clock: T0 + 3_600_000, narrows })
      const rows = rowsAt(600, (i) => i * 1000)
      store.insert(rows)
      const stores = makeTestStores()
      await Effect.runPromise(runOnce(sourceOn(store), makeRecordingSink(), stores))
      const mark = Number((await Effect.runPromise(store.storeTime)).mark)
      // A late row at 125.5 s that claims an old mark: narrowing cannot see it.
      const late = rowsAt(1, () => 125_500, 3)
      store.insertBackdated(late, mark)
      const sink = makeRecordingSink()
      const summary = await Effect.runPromise(runOnce(sourceOn(store), sink, stores))
      const delivered = sink.delivered.map((e) => e.id)
      expect(delivered, `narrows: ${narrows}`).toContain(late[0]!.id)
      expect(summary.late).toBe(1)
      // The bucket [120 s, 130 s): its ten rows are sent again with the late one.
      expect(delivered.filter((id) => id !== late[0]!.id).sort()).toEqual(rows.slice(120, 130).map((r) => r.id).sort())
    }
  })

  it("reports rows that land further behind than lateWindow, once, and does not export them", async () => {
    const store = makeMemoryStore({ clock: T0 + 3 * 3_600_000, narrows: "runs" })
    const rows = rowsAt(3 * 360, (i) => i * 10_000) // three hours, a row each 10 s
    store.insert(rows)
    const stores = makeTestStores()
    await Effect.runPromise(runOnce(sourceOn(store), makeRecordingSink(), stores))
    // Dated 90 minutes behind the cursor (2h59m30s: the horizon is the clock, 3h, minus 30 s of lag), more than
    // the hour of lateWindow, in the coarse bucket [1h, 2h) whose last 30 s are still fine buckets.
    const tooLate = rowsAt(3, (i) => 5_350_000 + i, 4)
    store.insert(tooLate)
    const log = logged()
    const sink = makeRecordingSink()
    const summary = await Effect.runPromise(runOnce(sourceOn(store), sink, stores).pipe(Effect.provide(log.layer)))
    expect(sink.delivered).toEqual([])
    expect(summary.missed).toBe(3)
    const warning = log.lines.find((line) => line.includes("more than lateWindow (1h)"))!
    expect(warning).toMatch(/^3 rows dated 2025-05-01T01:00:00\.000000Z to 2025-05-01T01:59:30\.000000Z landed after the cursor/)
    expect(warning).toMatch(/: 1h to 2h behind the cursor, 1h 1m to 2h behind the store's clock; they are not exported/)
    expect(warning).toMatch(/lateWindow: 2h would have exported them as late rows/)
    expect(warning).toMatch(/startAt: 2025-05-01T01:00:00\.000000Z and endAt: 2025-05-01T01:59:30\.000000Z/)
    // Ten minutes later (a sixth of lateWindow) the audit runs again and reports nothing new.
    store.setClock(T0 + 3 * 3_600_000 + 600_000)
    const again = await Effect.runPromise(runOnce(sourceOn(store), makeRecordingSink(), stores))
    expect(again.missed).toBe(0)
    expect(store.requests.filter((r) => r.kind === "count" && r.request.width === 3_600_000)).toHaveLength(2)
  })

  it("keeps counting correctly after rows behind the cursor were deleted", async () => {
    const store = makeMemoryStore({ clock: T0 + 3_600_000, narrows: "runs" })
    const rows = rowsAt(300, (i) => i * 1000)
    store.insert(rows)
    const stores = makeTestStores()
    await Effect.runPromise(runOnce(sourceOn(store), makeRecordingSink(), stores))
    // A retention job deletes ten rows of one bucket; the next pass takes the smaller count.
    store.remove(rows.slice(200, 210).map((r) => r.id))
    await Effect.runPromise(runOnce(sourceOn(store), makeRecordingSink(), stores))
    // A late row lands in that bucket: growth over the smaller count, so it is found.
    const late = rowsAt(1, () => 205_500, 5)
    store.insert(late)
    const sink = makeRecordingSink()
    const summary = await Effect.runPromise(runOnce(sourceOn(store), sink, stores))
    expect(sink.delivered.map((e) => e.id)).toEqual([late[0]!.id])
    expect(summary.late).toBe(1)
  })

  it("starts tracking from a cursor without counts (a checkpoint of an older version) by taking what is there as delivered", async () => {
    const store = makeMemoryStore({ clock: T0 + 3_600_000, narrows: "runs" })
    const rows = rowsAt(300, (i) => i * 1000)
    store.insert(rows)
    const stores = makeTestStores()
    const v1: CheckpointStore.Checkpoint = { version: 1, pipeline: "test", cursor: { timestamp: rows[299]!.timestamp, id: rows[299]!.id }, committedAt: "2025-05-01T00:05:00.000Z", exported: 300, deadLettered: 0 }
    stores.checkpoints.set("test", v1)
    const log = logged()
    await Effect.runPromise(runOnce(sourceOn(store), makeRecordingSink(), stores).pipe(Effect.provide(log.layer)))
    expect(log.lines.some((line) => line.startsWith("late rows are looked for from now on"))).toBe(true)
    const saved = stores.checkpoints.get("test")!
    expect(saved.version).toBe(2)
    expect(saved.exported).toBe(300)
    expect(saved.state).toBeDefined()
    // From now on a late row is found.
    const late = rowsAt(1, () => 150_500, 6)
    store.insert(late)
    const sink = makeRecordingSink()
    const summary = await Effect.runPromise(runOnce(sourceOn(store), sink, stores))
    expect(sink.delivered.map((e) => e.id)).toEqual([late[0]!.id])
    expect(summary.late).toBe(1)
  })
})

describe("the selection a checkpoint was made under", () => {
  const selection = { source: "memory", table: "events", envIds: ["env-a"], events: null, startAt: null, endAt: null }

  it("is kept in the checkpoint, and a wider envIds is refused with a sentence naming the change and the ways on", async () => {
    const store = makeMemoryStore({ clock: T0 + 3_600_000 })
    store.insert(rowsAt(50, (i) => i * 1000))
    const stores = makeTestStores()
    await Effect.runPromise(runOnce(sourceOn(store, {}, selection), makeRecordingSink(), stores))
    expect(stores.checkpoints.get("test")!.selection).toEqual(selection)
    const wider = { ...selection, envIds: ["env-a", "env-b"] }
    const error = await Effect.runPromise(Effect.flip(runOnce(sourceOn(store, {}, wider), makeRecordingSink(), stores)))
    expect(error.message).toMatch(/envIds changed from \[env-a\] to \[env-a, env-b\], which adds env-b/)
    expect(error.message).toMatch(/Set it back; or export the addition with a pipeline of its own/)
    expect(error.message).toMatch(/checkpoints <file> --reset --pipeline test/)
  })

  it("accepts a narrower one with a warning, and records it", async () => {
    const store = makeMemoryStore({ clock: T0 + 3_600_000 })
    store.insert(rowsAt(50, (i) => i * 1000))
    const stores = makeTestStores()
    const wide = { ...selection, envIds: ["env-a", "env-b"] }
    await Effect.runPromise(runOnce(sourceOn(store, {}, wide), makeRecordingSink(), stores))
    store.insert(rowsAt(5, (i) => 60_000 + i, 7))
    const log = logged()
    await Effect.runPromise(runOnce(sourceOn(store, {}, selection), makeRecordingSink(), stores).pipe(Effect.provide(log.layer)))
    expect(log.lines.some((line) => line.includes("envIds narrowed from [env-a, env-b] to [env-a]"))).toBe(true)
    expect(stores.checkpoints.get("test")!.selection).toEqual(selection)
  })
})
