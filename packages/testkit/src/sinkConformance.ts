import { type ExportEvent, type PipelineError, type Sink, type SinkError, decodeFeatBitRow } from "@featbit-export/core"
import { generateRows } from "@featbit-export/source-generate"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import { describe, expect, it } from "vitest"
import { makeMemorySource } from "./MemorySource.js"
import { makeTestStores, runOnce } from "./runPipeline.js"

/** How the sink suite drives a sink plugin and looks at its destination. */
export interface SinkHarness {
  /** A sink writing to a fresh, empty destination (one per call). */
  readonly make: () => Effect.Effect<SinkUnderTest, unknown, Scope.Scope>
  /** Events per test export (default 1,000). */
  readonly events?: number
  /** The faults `make`'s result can inject; cases needing others are skipped (and reported as skipped). */
  readonly supports?: ReadonlyArray<"transient" | "fatal" | "poison">
}

export interface SinkUnderTest {
  readonly sink: Sink
  /** The ids the destination holds durably, in arrival order, duplicates included. */
  readonly delivered: () => Effect.Effect<ReadonlyArray<string>, unknown>
  /** Makes the destination fail the next `times` writes in a way the sink must classify as transient. */
  readonly injectTransient?: (times: number) => Effect.Effect<void>
  /** Makes the destination refuse every further write in a way the sink must classify as fatal. */
  readonly injectFatal?: () => Effect.Effect<void>
  /** An event the destination refuses for good (too large, invalid), built from an ordinary one. */
  readonly poison?: (event: ExportEvent) => ExportEvent
}

const sampleEvents = (count: number, seed: number): Array<ExportEvent> =>
  [...generateRows({ count, seed })].flatMap((row) => Either.match(decodeFeatBitRow(row), { onLeft: () => [], onRight: (e) => [e] }))

const required = <A>(value: A | undefined, what: string): A => {
  if (value === undefined) throw new Error(`the harness declares support for ${what} but its sink under test has no ${what}`)
  return value
}

const coveredBy = (rows: ReadonlyArray<{ timestamp: string; id: string }>, cursor: { timestamp: string; id: string }) =>
  rows.filter((r) => r.timestamp < cursor.timestamp || (r.timestamp === cursor.timestamp && r.id <= cursor.id))

const run = <A>(effect: Effect.Effect<A, unknown, Scope.Scope>) => Effect.runPromise(Effect.scoped(effect))

const isSinkFailure = (error: unknown): error is PipelineError & { reason: SinkError } =>
  typeof error === "object" && error !== null && (error as PipelineError)._tag === "PipelineError" && (error as PipelineError).reason._tag === "SinkError"

/**
 * The conformance suite every sink runs: a write is durable when acknowledged, every event keeps its id
 * (the idempotency key), the cursor is committed only over acknowledged batches, transient failures are
 * retried and fatal ones stop the pipeline, refused events are dead-lettered, and a graceful stop commits
 * only what the destination holds. Cases that need a fault the harness cannot inject are skipped.
 */
export const sinkConformance = (name: string, harness: SinkHarness): void => {
  const count = harness.events ?? 1_000
  const supports = new Set(harness.supports ?? [])
  describe(`sink conformance: ${name}`, () => {
    it("holds every event of a batch, under its own id, once write has succeeded", async () => {
      const events = sampleEvents(250, 21)
      await run(
        Effect.gen(function* () {
          const target = yield* harness.make()
          const result = yield* target.sink.write({ events, sequence: 0 })
          expect(result.rejected).toEqual([])
          expect(new Set(yield* target.delivered())).toEqual(new Set(events.map((e) => e.id)))
        })
      )
    })

    it("exports every event through the engine, committing only acknowledged batches", async () => {
      const rows = [...generateRows({ count, seed: 22 })]
      await run(
        Effect.gen(function* () {
          const target = yield* harness.make()
          const stores = makeTestStores()
          const summary = yield* runOnce(makeMemorySource(rows), target.sink, stores, { batchSize: 128 })
          const delivered = yield* target.delivered()
          expect(new Set(delivered)).toEqual(new Set(rows.map((r) => r.id)))
          expect(summary.exported).toBe(rows.length)
          // Each saved cursor covers only events the destination already held when it was saved.
          for (const save of stores.saves) {
            expect(coveredBy(rows, save.cursor).every((r) => delivered.includes(r.id))).toBe(true)
          }
        })
      )
    })

    it.skipIf(!supports.has("transient"))("retries transient failures and then delivers everything", async () => {
      const rows = [...generateRows({ count: Math.min(count, 600), seed: 23 })]
      await run(
        Effect.gen(function* () {
          const target = yield* harness.make()
          yield* required(target.injectTransient, "injectTransient")(2)
          const stores = makeTestStores()
          const summary = yield* runOnce(makeMemorySource(rows), target.sink, stores, { batchSize: 100 })
          expect(summary.retries).toBeGreaterThanOrEqual(2)
          expect(new Set(yield* target.delivered())).toEqual(new Set(rows.map((r) => r.id)))
        })
      )
    })

    it.skipIf(!supports.has("fatal"))("stops on a fatal failure with the sink's message and commits nothing past it", async () => {
      const rows = [...generateRows({ count: 300, seed: 24 })]
      await run(
        Effect.gen(function* () {
          const target = yield* harness.make()
          yield* required(target.injectFatal, "injectFatal")()
          const stores = makeTestStores()
          const result = yield* Effect.either(runOnce(makeMemorySource(rows), target.sink, stores, { batchSize: 100 }))
          expect(Either.isLeft(result)).toBe(true)
          const error = Either.isLeft(result) ? result.left : undefined
          expect(isSinkFailure(error)).toBe(true)
          expect(isSinkFailure(error) && error.reason.retryable).toBe(false)
          expect(stores.saves).toEqual([])
        })
      )
    })

    it.skipIf(!supports.has("poison"))("dead-letters an event the destination refuses and delivers the others", async () => {
      const events = sampleEvents(50, 25)
      await run(
        Effect.gen(function* () {
          const target = yield* harness.make()
          const poisoned = required(target.poison, "poison")(events[10]!)
          const batch = events.map((e, i) => (i === 10 ? poisoned : e))
          const result = yield* target.sink.write({ events: batch, sequence: 0 })
          expect(result.rejected.map((r) => r.event.id)).toEqual([poisoned.id])
          expect(result.rejected[0]!.reason.length).toBeGreaterThan(5)
          const delivered = new Set(yield* target.delivered())
          expect(delivered.has(poisoned.id)).toBe(false)
          expect(events.filter((_, i) => i !== 10).every((e) => delivered.has(e.id))).toBe(true)
        })
      )
    })

    it("stops gracefully: what is committed is at the destination", async () => {
      const rows = [...generateRows({ count, seed: 26 })]
      await run(
        Effect.gen(function* () {
          const target = yield* harness.make()
          const stores = makeTestStores()
          const stop = yield* Deferred.make<void>()
          const fiber = yield* Effect.fork(runOnce(makeMemorySource(rows), target.sink, stores, { batchSize: 50, mode: "follow", stop }))
          // Ask for the stop once the pipeline is demonstrably mid-export.
          yield* Effect.sleep("1 millis").pipe(Effect.repeat({ until: () => stores.saves.length >= 2 }))
          yield* Deferred.succeed(stop, undefined)
          const summary = yield* Fiber.join(fiber)
          const delivered = new Set(yield* target.delivered())
          const committed = stores.checkpoints.get("test")
          expect(committed).toBeDefined()
          const covered = coveredBy(rows, committed!.cursor)
          expect(covered.every((r) => delivered.has(r.id))).toBe(true)
          expect(summary.exported).toBe(covered.length)
        })
      )
    })
  })
}
