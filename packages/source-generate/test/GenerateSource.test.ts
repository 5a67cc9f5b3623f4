import { it } from "@effect/vitest"
import { Cursor, type FeatBitRow, ExportEvent, type PassInfo, type SourcePage, Timestamp } from "@featbit-export/core"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { describe, expect } from "vitest"
import { type GenerateSourceConfig, generateRows, makeGenerateSource } from "../src/index.js"

const readAll = (config: GenerateSourceConfig, from: Cursor.Cursor | undefined, pageSize: number) =>
  makeGenerateSource(config).read(from, { pageSize }).pipe(Stream.runCollect, Effect.map(Chunk.toArray))

const idsOf = (pages: ReadonlyArray<SourcePage>): Array<string> =>
  pages.flatMap((page) =>
    [...page.events.map((event) => ({ timestamp: event.timestamp, id: event.id })), ...page.rejected.map((r) => r.raw as FeatBitRow)]
      .sort(Cursor.compare)
      .map((row) => row.id)
  )

const isExportEvent = Schema.is(ExportEvent)

describe("makeGenerateSource", () => {
  it.effect("reads every row once, in pages of pageSize, each cursor on its last row", () =>
    Effect.gen(function* () {
      const config = { count: 2503, seed: 21 }
      const rows = [...generateRows(config)]
      const pages = yield* readAll(config, undefined, 500)
      expect(pages.map((page) => page.events.length + page.rejected.length)).toEqual([500, 500, 500, 500, 500, 3])
      expect(idsOf(pages)).toEqual(rows.map((row) => row.id))
      pages.forEach((page, i) => {
        const last = rows[Math.min((i + 1) * 500, rows.length) - 1]!
        expect(page.cursor).toEqual({ timestamp: last.timestamp, id: last.id })
        expect(page.events.map((event) => event.id)).toEqual(
          rows.slice(i * 500, (i + 1) * 500).map((row) => row.id)
        )
      })
    }))

  it.effect("decodes every row into a valid ExportEvent carrying the row's values", () =>
    Effect.gen(function* () {
      const config = { count: 4000, seed: 22 }
      const rows = new Map([...generateRows(config)].map((row) => [row.id, row]))
      const pages = yield* readAll(config, undefined, 1000)
      const events = pages.flatMap((page) => page.events)
      expect(pages.flatMap((page) => page.rejected)).toEqual([])
      expect(events).toHaveLength(4000)
      const kinds = new Set<string>()
      for (const event of events) {
        expect(isExportEvent(event)).toBe(true)
        const row = rows.get(event.id)!
        expect(event.event).toBe(row.event)
        expect(event.timestamp).toBe(row.timestamp)
        expect(event.ingestedAt).toBe(row.ingestedAt)
        expect(event.envId).toBe(row.envId)
        expect(event.distinctId).toBe(row.distinctId)
        expect(event.user.keyId).not.toBe("")
        kinds.add(event.event)
      }
      expect([...kinds].sort()).toEqual(["Click", "CustomEvent", "FlagValue", "PageView"])
    }))

  it.effect("ends at once when count is 0", () =>
    Effect.gen(function* () {
      expect(yield* readAll({ count: 0, seed: 1 }, undefined, 10)).toEqual([])
    }))

  it.effect("yields exactly the remaining rows when reading from a middle page's cursor", () =>
    Effect.gen(function* () {
      const config = { count: 1000, seed: 23, maxTie: 6 }
      const all = idsOf(yield* readAll(config, undefined, 97))
      const first = yield* readAll(config, undefined, 97)
      for (const k of [0, 3, 5, first.length - 1]) {
        const rest = idsOf(yield* readAll(config, first[k]!.cursor, 97))
        const delivered = (k + 1) * 97
        expect(rest).toEqual(all.slice(delivered))
      }
    }))

  it.effect("resumes inside a tie group larger than a page without losing or repeating rows", () =>
    Effect.gen(function* () {
      const config = { count: 600, seed: 24, tieBurst: 250 }
      const rows = [...generateRows(config)]
      const pages = yield* readAll(config, undefined, 100)
      // The first two cursors fall inside the burst: same timestamp as the next row.
      expect(pages[0]!.cursor.timestamp).toBe(rows[100]!.timestamp)
      expect(pages[1]!.cursor.timestamp).toBe(rows[200]!.timestamp)
      for (const [k, page] of pages.entries()) {
        const rest = idsOf(yield* readAll(config, page.cursor, 100))
        expect(rest).toEqual(rows.slice((k + 1) * 100).map((row) => row.id))
      }
      // And from any row of the burst, with another page size.
      for (const i of [0, 1, 57, 248, 249, 250]) {
        const rest = idsOf(yield* readAll(config, Cursor.of({ timestamp: rows[i]!.timestamp, id: rows[i]!.id }), 33))
        expect(rest).toEqual(rows.slice(i + 1).map((row) => row.id))
      }
    }))

  it.effect("resumes from a cursor that is not a row: between rows, before the start, after the end", () =>
    Effect.gen(function* () {
      const config = { count: 300, seed: 25 }
      const rows = [...generateRows(config)]
      const ids = rows.map((row) => row.id)
      const before = { timestamp: rows[0]!.timestamp, id: "" }
      expect(idsOf(yield* readAll(config, before, 50))).toEqual(ids)
      const mid = rows[120]!
      const between = { timestamp: mid.timestamp, id: mid.id + "0" }
      expect(idsOf(yield* readAll(config, between, 50))).toEqual(
        rows.filter((row) => Cursor.compare(row, between) > 0).map((row) => row.id)
      )
      const last = rows[rows.length - 1]!
      expect(yield* readAll(config, Cursor.of(last), 50)).toEqual([])
    }))

  it.effect("uses its own pageSize over the pipeline's", () =>
    Effect.gen(function* () {
      const pages = yield* readAll({ count: 100, seed: 26, pageSize: 30 }, undefined, 1000)
      expect(pages.map((page) => page.events.length)).toEqual([30, 30, 30, 10])
    }))

  it.effect("dead-letters every N-th row with its id and a reason, and decodes the others", () =>
    Effect.gen(function* () {
      const config = { count: 900, seed: 27, malformedEvery: 10 }
      const rows = [...generateRows(config)]
      const pages = yield* readAll(config, undefined, 128)
      const rejected = pages.flatMap((page) => page.rejected)
      const events = pages.flatMap((page) => page.events)
      expect(rejected.map((r) => r.id)).toEqual(rows.filter((_, i) => (i + 1) % 10 === 0).map((row) => row.id))
      expect(events.map((e) => e.id)).toEqual(rows.filter((_, i) => (i + 1) % 10 !== 0).map((row) => row.id))
      const reasons = new Set<string>()
      for (const r of rejected) {
        expect(r.reason.length).toBeGreaterThan(0)
        expect((r.raw as FeatBitRow).id).toBe(r.id)
        reasons.add(r.reason.replace(/properties\.(\w+)/, "properties.KEY").replace(/\(.*\)/, ""))
      }
      // Several kinds of breakage, not one.
      expect(reasons.size).toBeGreaterThanOrEqual(3)
      for (const event of events) expect(isExportEvent(event)).toBe(true)
      // Each page's cursor covers its rejected rows too.
      const lastRejectedPage = pages.find((page) => page.rejected.some((r) => r.id === rows[899]!.id))!
      expect(lastRejectedPage.cursor.id).toBe(rows[899]!.id)
    }))

  it.effect("says what it will generate", () =>
    Effect.gen(function* () {
      const facts = yield* makeGenerateSource({ count: 1234, seed: 5, malformedEvery: 3 }).check!
      expect(facts).toHaveLength(1)
      expect(facts[0]).toMatch(/1234/)
      expect(facts[0]).toMatch(/seed 5/)
      expect(facts[0]).toMatch(/3rd/)
    }))

  it("refuses invalid options when made", () => {
    expect(() => makeGenerateSource({ count: -5 })).toThrow(RangeError)
    expect(() => makeGenerateSource({ count: 5, pageSize: 0 })).toThrow(RangeError)
  })

  it.effect("fails with a SourceError when the pipeline's page size is invalid", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(readAll({ count: 5 }, undefined, 0))
      expect(error._tag).toBe("SourceError")
      expect(error.retryable).toBe(false)
    }))
})

describe("makeGenerateSource with a rate", () => {
  const startMs = Date.parse("2024-05-01T08:00:00.000Z")
  const start = Timestamp.fromMillis(startMs)

  /** A clock the test moves by hand. */
  const manualClock = (at: number) => {
    let now = at
    return { now: () => now, set: (ms: number) => void (now = ms) }
  }

  const read = (source: ReturnType<typeof makeGenerateSource>, from: Cursor.Cursor | undefined, pageSize = 100) =>
    source.read(from, { pageSize }).pipe(Stream.runCollect, Effect.map(Chunk.toArray))

  const lastCursor = (pages: ReadonlyArray<SourcePage>, before: Cursor.Cursor | undefined) =>
    pages.length === 0 ? before : pages[pages.length - 1]!.cursor

  it.effect("returns only the rows due by now, then the next ones after its cursor as the clock moves", () =>
    Effect.gen(function* () {
      const clock = manualClock(startMs + 999)
      const config = { seed: 40, rate: 10, start, now: clock.now }
      const source = makeGenerateSource(config)
      const reference = [...generateRows({ ...config, count: 200 })]
      const first = yield* read(source, undefined)
      // Rows at 0, 100, ..., 900 ms are due at 999 ms.
      expect(idsOf(first)).toEqual(reference.slice(0, 10).map((row) => row.id))
      // Nothing new until the clock moves.
      expect(yield* read(source, lastCursor(first, undefined))).toEqual([])
      clock.set(startMs + 5_000)
      const second = yield* read(source, lastCursor(first, undefined))
      expect(idsOf(second)).toEqual(reference.slice(10, 51).map((row) => row.id))
      for (const row of second.flatMap((page) => page.events)) {
        expect(Timestamp.toMicros(row.timestamp) <= BigInt(startMs + 5_000) * 1000n).toBe(true)
      }
    }))

  it.effect("tells the engine each pass's clock and horizon: its own clock, as it is its own store", () =>
    Effect.gen(function* () {
      const clock = manualClock(startMs + 2_500)
      const source = makeGenerateSource({ seed: 43, rate: 10, start, now: clock.now })
      const passes: Array<PassInfo> = []
      yield* source.read(undefined, { pageSize: 100, onPass: (info) => void passes.push(info) }).pipe(Stream.runDrain)
      clock.set(startMs + 7_000)
      yield* source.read(undefined, { pageSize: 100, onPass: (info) => void passes.push(info) }).pipe(Stream.runDrain)
      expect(passes).toEqual([
        { storeTime: Timestamp.fromMillis(startMs + 2_500), horizon: Timestamp.fromMillis(startMs + 2_500) },
        { storeTime: Timestamp.fromMillis(startMs + 7_000), horizon: Timestamp.fromMillis(startMs + 7_000) }
      ])
    }))

  it.effect("never delivers more than count in all", () =>
    Effect.gen(function* () {
      const clock = manualClock(startMs + 10_000)
      const source = makeGenerateSource({ count: 25, seed: 41, rate: 100, start, now: clock.now })
      const pages = yield* read(source, undefined, 10)
      expect(pages.map((page) => page.events.length)).toEqual([10, 10, 5])
      clock.set(startMs + 1_000_000)
      expect(yield* read(source, lastCursor(pages, undefined), 10)).toEqual([])
    }))

  it.effect("pages rows that share a millisecond in id order, and resumes inside such a group", () =>
    Effect.gen(function* () {
      const clock = manualClock(startMs + 400)
      const config = { seed: 42, rate: 9000, start, now: clock.now }
      const source = makeGenerateSource(config)
      const pages = yield* read(source, undefined, 7)
      const events = pages.flatMap((page) => page.events)
      expect(events).toHaveLength([...generateRows({ ...config, count: 10_000 })].filter((row) => row.timestamp <= Timestamp.fromMillis(startMs + 400)).length)
      for (let i = 1; i < events.length; i++) expect(Cursor.compare(events[i - 1]!, events[i]!)).toBeLessThan(0)
      const insideTie = pages.findIndex((page, k) => k + 1 < pages.length && pages[k + 1]!.events[0]!.timestamp === page.cursor.timestamp)
      expect(insideTie).toBeGreaterThanOrEqual(0)
      const rest = yield* read(source, pages[insideTie]!.cursor, 7)
      expect(idsOf(rest)).toEqual(idsOf(pages.slice(insideTie + 1)))
    }))

  it.effect("starts when it is made, not when it is first read", () =>
    Effect.gen(function* () {
      const clock = manualClock(startMs)
      const source = makeGenerateSource({ seed: 43, rate: 4, now: clock.now })
      clock.set(startMs + 60_000)
      const pages = yield* read(source, undefined, 1000)
      const events = pages.flatMap((page) => page.events)
      expect(events[0]!.timestamp).toBe(start)
      // 4 a second over 60 s, both ends included.
      expect(events).toHaveLength(241)
    }))

  it.effect("says it generates at a rate", () =>
    Effect.gen(function* () {
      const facts = yield* makeGenerateSource({ seed: 44, rate: 250, start, users: 500, flags: 20 }).check!
      expect(facts[0]).toMatch(/250 a second/)
      expect(facts[0]).toMatch(/500 users and 20 flags/)
      expect(facts[0]).not.toMatch(/per timestamp/)
    }))

  it("refuses a count-less source without a rate, and a bad rate, when made", () => {
    expect(() => makeGenerateSource({})).toThrow(RangeError)
    expect(() => makeGenerateSource({ rate: 0 })).toThrow(RangeError)
  })
})
