import * as Duration from "effect/Duration"
import { describe, expect, it } from "vitest"
import { AUDIT_BUCKETS, BUCKETS_PER_WINDOW, LateBook, decodeLateState, widthFor, widthSuits } from "../src/LateRows.js"
import * as Timestamp from "../src/Timestamp.js"

const T0 = Date.parse("2025-01-01T00:00:00.000Z")
const at = (ms: number) => Timestamp.fromMillis(T0 + ms)
const hour = Duration.hours(1)

/** Timestamps every `step` ms from `from` (inclusive) to `to` (exclusive). */
const times = (from: number, to: number, step: number) => Array.from({ length: Math.ceil((to - from) / step) }, (_, i) => at(from + i * step))

/** Counts per bucket, computed here by hand from timestamps, as a store's count query would return them. */
const countsOf = (stamps: ReadonlyArray<Timestamp.Timestamp>, width: number) => {
  const counts = new Map<number, number>()
  for (const t of stamps) {
    const bucket = Math.floor(Date.parse(t.slice(0, 23) + "Z") / width)
    counts.set(bucket, (counts.get(bucket) ?? 0) + 1)
  }
  return [...counts].map(([bucket, rows]) => ({ bucket, rows }))
}

describe("the late-row book", () => {
  it("uses about 360 fine buckets per late window, and keeps a width only while it still suits the window", () => {
    expect(widthFor(hour)).toBe(10_000)
    expect(widthFor(Duration.seconds(6))).toBe(17)
    expect(widthFor(Duration.millis(100))).toBe(1)
    expect(widthSuits(10_000, hour)).toBe(true)
    expect(widthSuits(10_000, Duration.hours(2))).toBe(true)
    expect(widthSuits(10_000, Duration.minutes(5))).toBe(false)
    expect(widthSuits(10_000, Duration.days(3))).toBe(false)
  })

  it("counts delivered rows per bucket and finds exactly the buckets that grew", () => {
    const book = LateBook.empty(hour)
    const delivered = times(0, 600_000, 250) // ten minutes, four rows a second
    book.add(delivered)
    const cursor = delivered[delivered.length - 1]!
    book.retire(cursor)
    // A recount of what was delivered finds nothing.
    expect(book.compare(countsOf(delivered, book.width)).grown).toEqual([])
    // Two rows land in the bucket of 61 s and one in the bucket of 300 s.
    const late = [at(61_001), at(61_002), at(300_123)]
    const { grown } = book.compare(countsOf([...delivered, ...late], book.width))
    expect(grown).toEqual([
      { bucket: Math.floor((T0 + 61_001) / 10_000), delivered: 40, counted: 42 },
      { bucket: Math.floor((T0 + 300_123) / 10_000), delivered: 40, counted: 41 }
    ])
  })

  it("takes a smaller recount at once, so rows deleted and late rows added later still show as growth", () => {
    const book = LateBook.empty(hour)
    const delivered = times(0, 60_000, 1000)
    book.add(delivered)
    const remaining = delivered.slice(5)
    expect(book.compare(countsOf(remaining, book.width)).shrunk).toBe(true)
    const { grown } = book.compare(countsOf([...remaining, at(2_500)], book.width))
    expect(grown.map((g) => g.bucket)).toEqual([Math.floor(T0 / 10_000)])
  })

  it("moves buckets older than the late window into coarse ones, keeping 24 of them, and audits those", () => {
    const book = LateBook.empty(hour)
    // Thirty hours of rows, one a minute.
    const delivered = times(0, 30 * 3_600_000, 60_000)
    book.add(delivered)
    const cursor = delivered[delivered.length - 1]!
    book.retire(cursor)
    const state = book.snapshot(undefined)!
    expect(state.counts.length).toBeLessThanOrEqual(BUCKETS_PER_WINDOW + 1)
    expect(state.audit!.counts.length).toBe(AUDIT_BUCKETS + 1)
    expect(state.audit!.counts.slice(1, -1).every((rows) => rows === 60)).toBe(true)
    // The audit's recount is of [auditStart, fineStart): growth there is missed, reported once.
    const auditFrom = Date.parse(book.auditStart()!.slice(0, 23) + "Z") - T0
    const fineFrom = Date.parse(book.fineStart()!.slice(0, 23) + "Z") - T0
    const behind = delivered.filter((t) => {
      const ms = Date.parse(t.slice(0, 23) + "Z") - T0
      return ms >= auditFrom && ms < fineFrom
    })
    expect(book.auditDue(at(30 * 3_600_000))).toBe(true)
    const lateOnes = [at(fineFrom - 3 * 3_600_000 + 5), at(fineFrom - 3 * 3_600_000 + 6)]
    const missed = book.audit(countsOf([...behind, ...lateOnes], book.coarseWidth), at(30 * 3_600_000))
    expect(missed).toHaveLength(1)
    expect(missed[0]!.rows).toBe(2)
    expect(missed[0]!.from <= lateOnes[0]! && lateOnes[0]! < missed[0]!.before).toBe(true)
    expect(book.audit(countsOf([...behind, ...lateOnes], book.coarseWidth), at(30 * 3_600_000 + 1))).toEqual([])
    // Not due again before a sixth of the window has passed on the store's clock.
    expect(book.auditDue(at(30 * 3_600_000 + 599_000))).toBe(false)
    expect(book.auditDue(at(30 * 3_600_000 + 601_000))).toBe(true)
  })

  it("keeps its size bounded across a quiet week (a row far ahead of the last one)", () => {
    const book = LateBook.empty(hour)
    book.add(times(0, 60_000, 100))
    book.add([at(7 * 24 * 3_600_000)])
    const state = book.snapshot(undefined)!
    expect(state.counts.length).toBeLessThanOrEqual(BUCKETS_PER_WINDOW + 2)
    expect(state.counts.reduce((a, b) => a + b, 0)).toBe(1)
  })

  it("survives a round trip through a checkpoint, and refuses what is not one", () => {
    const book = LateBook.empty(hour)
    book.add(times(0, 7_200_000, 1000))
    book.retire(at(7_199_000))
    const state = JSON.parse(JSON.stringify(book.snapshot("42")))
    expect(decodeLateState(state)).toEqual(state)
    const resumed = LateBook.resume(decodeLateState(state)!, hour)
    expect(resumed.snapshot("42")).toEqual(state)
    expect(decodeLateState({ width: 0, origin: 1, counts: [] })).toBeUndefined()
    expect(decodeLateState({ width: 10, origin: 1, counts: [-1] })).toBeUndefined()
    expect(decodeLateState("counts")).toBeUndefined()
  })

  it("starts from a recount when a cursor has no counts yet", () => {
    const stamps = times(0, 7_200_000, 10_000)
    const cursor = stamps[stamps.length - 1]!
    const book = LateBook.baseline(hour, countsOf(stamps, widthFor(hour)), cursor)
    expect(book.compare(countsOf(stamps, book.width)).grown).toEqual([])
    expect(book.compare(countsOf([...stamps, at(7_000_000)], book.width)).grown).toHaveLength(1)
    // Only the late window behind the cursor is counted.
    expect(book.snapshot(undefined)!.counts.reduce((a, b) => a + b, 0)).toBe(361)
  })
})
