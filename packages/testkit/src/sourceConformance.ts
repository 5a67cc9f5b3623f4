import { Cursor, type ExportEvent, ExportEvent as ExportEventSchema, type FeatBitRow, type Source, type SourcePage } from "@featbit-export/core"
import { type GenerateOptions, generateRows } from "@featbit-export/source-generate"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { describe, expect, it } from "vitest"
import { makeRecordingSink } from "./RecordingSink.js"
import { makeTestStores, runOnce } from "./runPipeline.js"

/** How the source suite drives a source plugin. */
export interface SourceHarness {
  /**
   * A source reading exactly these rows (and nothing else) from its store. The harness writes them into
   * the store (a table, a collection) as FeatBit would, and opens the source on it. `spec` says how the
   * rows were generated (`generateRows(spec)`), for sources that generate rather than store.
   */
  readonly make: (rows: ReadonlyArray<FeatBitRow>, spec: GenerateOptions) => Effect.Effect<Source, unknown, Scope.Scope>
  /** Whether the store can hold rows whose properties cannot be decoded (default true). */
  readonly storesMalformedRows?: boolean
  /** Rows used by the larger cases (default 1,500). */
  readonly rows?: number
}

const readAll = (source: Source, from: Cursor.Cursor | undefined, pageSize: number) =>
  source.read(from, { pageSize }).pipe(Stream.runCollect, Effect.map(Chunk.toReadonlyArray))

const ids = (pages: ReadonlyArray<SourcePage>) => pages.flatMap((page) => page.events.map((event) => event.id))

const run = <A>(effect: Effect.Effect<A, unknown, Scope.Scope>) => Effect.runPromise(Effect.scoped(effect))

/**
 * The conformance suite every source runs: complete in-order reads, exact resume at any page's cursor,
 * ties at page boundaries, undecodable rows rejected with their id and reason, and a full export through
 * the engine. Call it inside a vitest file: `sourceConformance("clickhouse", harness)`.
 */
export const sourceConformance = (name: string, harness: SourceHarness): void => {
  const count = harness.rows ?? 1_500
  describe(`source conformance: ${name}`, () => {
    it("reads every row once, in keyset order, with each page's cursor at its last row", async () => {
      const spec = { count, seed: 11 }
      const rows = [...generateRows(spec)]
      const pages = await run(Effect.flatMap(harness.make(rows, spec), (source) => readAll(source, undefined, 97)))
      const events = pages.flatMap((page) => page.events)
      expect(events.map((e) => e.id)).toEqual(rows.map((r) => r.id))
      for (const page of pages) {
        expect(page.events.length).toBeLessThanOrEqual(97)
        const last = page.events[page.events.length - 1]
        if (last !== undefined && page.rejected.length === 0) expect(Cursor.compare(page.cursor, last)).toBe(0)
      }
      for (const event of events) expect(Schema.is(ExportEventSchema)(event)).toBe(true)
    })

    it("resumes exactly after the cursor of any page", async () => {
      const spec = { count, seed: 12 }
      const rows = [...generateRows(spec)]
      await run(
        Effect.gen(function* () {
          const source = yield* harness.make(rows, spec)
          const pages = yield* readAll(source, undefined, 128)
          const all = ids(pages)
          for (const k of [0, Math.floor(pages.length / 2), pages.length - 1]) {
            const rest = yield* readAll(source, pages[k]!.cursor, 128)
            const before = ids(pages.slice(0, k + 1)).length
            expect(ids(rest)).toEqual(all.slice(before))
          }
        })
      )
    })

    it("loses and repeats nothing when many rows share a timestamp across page boundaries", async () => {
      const spec = { count: Math.max(count, 700), seed: 13, tieBurst: 600 }
      const rows = [...generateRows(spec)]
      expect(rows[0]!.timestamp).toBe(rows[599]!.timestamp)
      const pages = await run(Effect.flatMap(harness.make(rows, spec), (source) => readAll(source, undefined, 250)))
      const seen = ids(pages)
      expect(new Set(seen).size).toBe(seen.length)
      expect(seen).toEqual(rows.map((row) => row.id))
      // Resuming from a cursor inside the tie group continues inside it.
      const resumed = await run(Effect.flatMap(harness.make(rows, spec), (source) => readAll(source, pages[0]!.cursor, 250)))
      expect(ids(resumed)).toEqual(seen.slice(ids(pages.slice(0, 1)).length))
    })

    it("reads nothing from an empty store, and nothing after the last row", async () => {
      const spec = { count: 50, seed: 14 }
      const rows = [...generateRows(spec)]
      const empty = await run(Effect.flatMap(harness.make([], { ...spec, count: 0 }), (source) => readAll(source, undefined, 10)))
      expect(ids(empty)).toEqual([])
      const end = { timestamp: rows[rows.length - 1]!.timestamp, id: rows[rows.length - 1]!.id }
      const after = await run(Effect.flatMap(harness.make(rows, spec), (source) => readAll(source, end, 10)))
      expect(ids(after)).toEqual([])
    })

    it.skipIf(harness.storesMalformedRows === false)("rejects undecodable rows with their id and a reason, and delivers the rest", async () => {
      const spec = { count: 300, seed: 15, malformedEvery: 7 }
      const rows = [...generateRows(spec)]
      const pages = await run(Effect.flatMap(harness.make(rows, spec), (source) => readAll(source, undefined, 64)))
      const rejected = pages.flatMap((page) => page.rejected)
      expect(rejected.length).toBeGreaterThan(0)
      for (const rejection of rejected) {
        expect(rows.some((row) => row.id === rejection.id)).toBe(true)
        expect(rejection.reason.length).toBeGreaterThan(5)
      }
      expect(ids(pages).length + rejected.length).toBe(rows.length)
    })

    it("exports everything through the engine and commits the last row's cursor", async () => {
      const spec = { count, seed: 16 }
      const rows = [...generateRows(spec)]
      const sink = makeRecordingSink()
      const stores = makeTestStores()
      const summary = await run(Effect.flatMap(harness.make(rows, spec), (source) => runOnce(source, sink, stores, { batchSize: 200 })))
      expect(sink.delivered.map((e: ExportEvent) => e.id)).toEqual(rows.map((r) => r.id))
      expect(summary.exported).toBe(rows.length)
      const last = rows[rows.length - 1]!
      expect(Cursor.compare(stores.checkpoints.get("test")!.cursor, last)).toBe(0)
    })
  })
}
