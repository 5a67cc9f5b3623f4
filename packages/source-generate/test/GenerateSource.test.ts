import { it } from "@effect/vitest"
import { Cursor, type FeatBitRow, ExportEvent, type SourcePage } from "@featbit-export/core"
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
