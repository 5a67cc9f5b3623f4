import { Cursor, type EventTransform, type FeatBitRow, PipelineProgress, type Sink, SourceError, accepted, decodeFeatBitRow } from "@featbit-export/core"
import { generateRows } from "@featbit-export/source-generate"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as TestContext from "effect/TestContext"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import { describe, expect, it } from "vitest"
import { makeMemorySource, makeRecordingSink, makeTestStores, runOnce, transientReadError } from "../src/index.js"

const rowsOf = (count: number, seed = 1, extra: Partial<Parameters<typeof generateRows>[0]> = {}) => [...generateRows({ count, seed, ...extra })]
const idsOf = (rows: ReadonlyArray<{ id: string }>) => rows.map((r) => r.id)
const waitUntil = (condition: () => boolean) => Effect.sleep("1 millis").pipe(Effect.repeat({ until: condition }))
const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)

describe("Pipeline.run", () => {
  it("delivers every row once, in cursor order, and commits the last row's cursor", async () => {
    const rows = rowsOf(1_000)
    const sink = makeRecordingSink()
    const stores = makeTestStores()
    const summary = await run(runOnce(makeMemorySource(rows), sink, stores, { batchSize: 64 }))
    expect(idsOf(sink.delivered)).toEqual(idsOf(rows))
    expect(summary.exported).toBe(1_000)
    expect(Cursor.compare(stores.checkpoints.get("test")!.cursor, rows[999]!)).toBe(0)
    expect(stores.checkpoints.get("test")!.exported).toBe(1_000)
  })

  it("does not commit a batch before the sink acknowledges it", async () => {
    const rows = rowsOf(300)
    const sink = makeRecordingSink({ maxInFlight: 1 })
    const stores = makeTestStores()
    await run(
      Effect.gen(function* () {
        const gate = yield* Deferred.make<void>()
        sink.script({ _tag: "Delay", duration: "0 millis" }, { _tag: "Hold", gate })
        const fiber = yield* Effect.fork(runOnce(makeMemorySource(rows), sink, stores, { batchSize: 100 }))
        yield* waitUntil(() => sink.attempts() === 2)
        yield* Effect.sleep("20 millis")
        // Batch 0 is acknowledged and committed; batch 1 is held at the destination, so not committed.
        expect(stores.saves.map((s) => s.cursor.id)).toEqual([rows[99]!.id])
        yield* Deferred.succeed(gate, undefined)
        yield* Fiber.join(fiber)
        expect(stores.saves.map((s) => s.cursor.id)).toEqual([rows[99]!.id, rows[199]!.id, rows[299]!.id])
      })
    )
  })

  it("with several batches in flight, moves the cursor only over a contiguous acknowledged prefix", async () => {
    const rows = rowsOf(400)
    const sink = makeRecordingSink()
    const stores = makeTestStores()
    await run(
      Effect.gen(function* () {
        const first = yield* Deferred.make<void>()
        // Batch 0 is held; batches 1..3 are acknowledged at once, out of order.
        sink.script({ _tag: "Hold", gate: first })
        const fiber = yield* Effect.fork(runOnce(makeMemorySource(rows), sink, stores, { batchSize: 100, inFlight: 4 }))
        yield* waitUntil(() => sink.acknowledged.length === 3)
        yield* Effect.sleep("20 millis")
        expect(sink.acknowledged).toEqual([1, 2, 3])
        expect(stores.saves).toEqual([])
        yield* Deferred.succeed(first, undefined)
        yield* Fiber.join(fiber)
        expect(stores.saves.map((s) => s.cursor.id)).toEqual([99, 199, 299, 399].map((i) => rows[i]!.id))
      })
    )
  })

  it("retries transient sink failures with the same events and loses nothing", async () => {
    const rows = rowsOf(500)
    const sink = makeRecordingSink()
    sink.script({ _tag: "Transient" }, { _tag: "Transient" }, { _tag: "Transient" })
    const stores = makeTestStores()
    const summary = await run(runOnce(makeMemorySource(rows), sink, stores, { batchSize: 100, inFlight: 1 }))
    expect(summary.retries).toBe(3)
    expect(idsOf(sink.delivered)).toEqual(idsOf(rows))
    expect(sink.attempts()).toBe(5 + 3)
  })

  it("waits as long as Retry-After asks before retrying", async () => {
    const rows = rowsOf(50)
    const sink = makeRecordingSink()
    sink.script({ _tag: "Transient", retryAfter: "150 millis" })
    const stores = makeTestStores()
    const started = Date.now()
    await run(runOnce(makeMemorySource(rows), sink, stores, { batchSize: 100 }))
    expect(Date.now() - started).toBeGreaterThanOrEqual(145)
    expect(idsOf(sink.delivered)).toEqual(idsOf(rows))
  })

  it("stops on a fatal sink failure, keeps the acknowledged prefix committed, and says what to fix", async () => {
    const rows = rowsOf(300)
    const sink = makeRecordingSink({ maxInFlight: 1 })
    sink.script({ _tag: "Delay", duration: "0 millis" }, { _tag: "Fatal" })
    const stores = makeTestStores()
    const result = await run(Effect.either(runOnce(makeMemorySource(rows), sink, stores, { batchSize: 100 })))
    expect(Either.isLeft(result)).toBe(true)
    const error = Either.isLeft(result) ? result.left : undefined
    expect(error?.message).toMatch(/^pipeline test: sink recording: credentials refused \(injected\); fix the write key$/)
    expect(sink.attempts()).toBe(2) // no retry of a fatal failure
    expect(stores.checkpoints.get("test")!.cursor.id).toBe(rows[99]!.id)
  })

  it("gives up after maxRetries transient failures", async () => {
    const sink = makeRecordingSink()
    sink.script(...Array.from({ length: 20 }, () => ({ _tag: "Transient" as const })))
    const stores = makeTestStores()
    const result = await run(Effect.either(runOnce(makeMemorySource(rowsOf(10)), sink, stores)))
    expect(Either.isLeft(result)).toBe(true)
    expect(sink.attempts()).toBe(6) // the first attempt and fastRetry's 5 retries
    expect(stores.saves).toEqual([])
    // The last word says the retries are over, and still names the cause.
    const error = Either.isLeft(result) ? result.left : undefined
    expect(error?.message).toBe("pipeline test: sink recording: destination busy (injected); gave up: the retries are used up (retry.maxRetries is 5)")
    expect(error?.reason._tag).toBe("SinkError")
  })

  it("says the retries are used up when a read keeps failing too", async () => {
    const source = makeMemorySource(rowsOf(10))
    source.failReads(20, transientReadError())
    const result = await run(Effect.either(runOnce(source, makeRecordingSink(), makeTestStores())))
    expect(Either.isLeft(result) ? result.left.message : "").toMatch(/connection reset \(injected\); gave up: the retries are used up \(retry\.maxRetries is 5\)$/)
  })

  it("resumes a failed read after the last page read, without repeating or losing rows", async () => {
    const rows = rowsOf(600)
    const source = makeMemorySource(rows)
    const sink = makeRecordingSink()
    const stores = makeTestStores()
    await run(
      Effect.gen(function* () {
        const fiber = yield* Effect.fork(runOnce(source, sink, stores, { batchSize: 50, inFlight: 1 }))
        yield* waitUntil(() => source.pagesServed() >= 3)
        source.failReads(2, transientReadError())
        yield* Fiber.join(fiber)
      })
    )
    expect(idsOf(sink.delivered)).toEqual(idsOf(rows))
  })

  it("stops on a fatal read failure with the source's message", async () => {
    const source = makeMemorySource(rowsOf(100))
    source.failReads(1, SourceError.fatal("memory", "table featbit.events does not exist; check `database` and `table`"))
    const result = await run(Effect.either(runOnce(source, makeRecordingSink(), makeTestStores())))
    expect(Either.isLeft(result) && result.left.message).toBe("pipeline test: source memory: table featbit.events does not exist; check `database` and `table`")
  })

  it("dead-letters undecodable rows and refused events before committing past them", async () => {
    const rows = rowsOf(200, 3, { malformedEvery: 20 })
    const sink = makeRecordingSink()
    const stores = makeTestStores()
    const refused = rows.find((_, i) => i % 20 !== 19 && i > 50)!
    sink.rejectIds.add(refused.id)
    const summary = await run(runOnce(makeMemorySource(rows), sink, stores, { batchSize: 64 }))
    const sourceLetters = stores.deadLetters.filter((l) => l.stage === "source")
    const sinkLetters = stores.deadLetters.filter((l) => l.stage === "sink")
    expect(sourceLetters.length).toBe(10)
    expect(sinkLetters.map((l) => l.id)).toEqual([refused.id])
    expect(summary.deadLettered).toBe(11)
    expect(summary.exported).toBe(200 - 11)
    const deliveredAndDead = new Set([...idsOf(sink.delivered), ...stores.deadLetters.map((l) => l.id)])
    expect(deliveredAndDead).toEqual(new Set(idsOf(rows)))
    expect(stores.checkpoints.get("test")!.deadLettered).toBe(11)
  })

  it("starts after a committed cursor", async () => {
    const rows = rowsOf(300)
    const stores = makeTestStores()
    await run(runOnce(makeMemorySource(rows.slice(0, 120)), makeRecordingSink(), stores, { batchSize: 50 }))
    const second = makeRecordingSink()
    const summary = await run(runOnce(makeMemorySource(rows), second, stores, { batchSize: 50 }))
    expect(idsOf(second.delivered)).toEqual(idsOf(rows.slice(120)))
    expect(summary.exported).toBe(180)
    expect(stores.checkpoints.get("test")!.exported).toBe(300)
  })

  it("in follow mode picks up rows that land after it caught up, and stops gracefully", async () => {
    const rows = rowsOf(300)
    const source = makeMemorySource(rows.slice(0, 100))
    const sink = makeRecordingSink()
    const stores = makeTestStores()
    const progress = new PipelineProgress("test")
    await run(
      Effect.gen(function* () {
        const stop = yield* Deferred.make<void>()
        const fiber = yield* Effect.fork(runOnce(source, sink, stores, { mode: "follow", stop, progress, batchSize: 40 }))
        yield* waitUntil(() => sink.delivered.length === 100)
        source.append(rows.slice(100) as Array<FeatBitRow>)
        yield* waitUntil(() => sink.delivered.length === 300)
        yield* Deferred.succeed(stop, undefined)
        const summary = yield* Fiber.join(fiber)
        expect(summary.exported).toBe(300)
      })
    )
    expect(progress.state).toBe("stopped")
    expect(idsOf(sink.delivered)).toEqual(idsOf(rows))
  })

  it("on a graceful stop, finishes the batches in flight and commits them", async () => {
    const rows = rowsOf(1_000)
    const sink = makeRecordingSink()
    const stores = makeTestStores()
    await run(
      Effect.gen(function* () {
        const gate = yield* Deferred.make<void>()
        const stop = yield* Deferred.make<void>()
        sink.script({ _tag: "Hold", gate })
        const fiber = yield* Effect.fork(runOnce(makeMemorySource(rows), sink, stores, { batchSize: 100, inFlight: 1, mode: "follow", stop }))
        yield* waitUntil(() => sink.attempts() >= 1)
        yield* Deferred.succeed(stop, undefined)
        yield* Deferred.succeed(gate, undefined)
        yield* Fiber.join(fiber)
      })
    )
    // Everything that reached the sink was committed, and nothing was committed that did not.
    const committed = stores.checkpoints.get("test")!
    expect(committed.exported).toBe(sink.delivered.length)
    expect(Cursor.compare(committed.cursor, sink.delivered[sink.delivered.length - 1]!)).toBe(0)
    // The held batch finished after the stop was asked for, and reading stopped well before the end.
    expect(sink.delivered.length).toBeGreaterThanOrEqual(100)
    expect(sink.delivered.length).toBeLessThan(1_000)
  })
})

describe("the dead-letter limit", () => {
  it("stops a pipeline whose destination refuses everything at the first batch, uncommitted, with a sentence", async () => {
    const rows = rowsOf(3_000)
    const sink = makeRecordingSink()
    for (const row of rows) sink.rejectIds.add(row.id)
    const stores = makeTestStores()
    const error = await run(Effect.flip(runOnce(makeMemorySource(rows), sink, stores, { batchSize: 2_000, inFlight: 1, deadLetterLimit: { max: 1_000, window: 10_000 } })))
    expect(error.message).toBe(
      'pipeline test: dead letters: 2000 of the last 2000 rows would be dead-lettered, more than deadLetters.max (1000 per 10000 rows): ' +
        "that is the destination's or the data's problem, not a few events'; the first reasons: \"rejected by the test destination\". " +
        "The batch was not committed: fix the cause and run again (or raise deadLetters.max)"
    )
    expect(stores.deadLetters).toEqual([])
    expect(stores.checkpoints.get("test")).toBeUndefined()
  })

  it("counts over a window of the latest rows: a steady trickle under the limit goes on, above it stops", async () => {
    const rows = rowsOf(5_000)
    // Every 25th row refused: 20 per batch of 500.
    const refused = rows.filter((_, i) => i % 25 === 0).map((r) => r.id)
    const run1 = makeRecordingSink()
    for (const id of refused) run1.rejectIds.add(id)
    const under = makeTestStores()
    const summary = await run(runOnce(makeMemorySource(rows), run1, under, { batchSize: 500, inFlight: 1, deadLetterLimit: { max: 40, window: 1_000 } }))
    expect(summary.deadLettered).toBe(200)
    expect(under.checkpoints.get("test")!.exported).toBe(4_800)
    // Three batches' worth of the window (60) pass a max of 50: the third batch stops the run, uncommitted.
    const run2 = makeRecordingSink()
    for (const id of refused) run2.rejectIds.add(id)
    const over = makeTestStores()
    const error = await run(Effect.flip(runOnce(makeMemorySource(rows), run2, over, { batchSize: 500, inFlight: 1, deadLetterLimit: { max: 50, window: 1_500 } })))
    expect(error.message).toMatch(/^pipeline test: dead letters: 60 of the last 1500 rows would be dead-lettered, more than deadLetters\.max \(50 per 1500 rows\)/)
    expect(over.checkpoints.get("test")!.exported).toBe(960)
    expect(over.deadLetters).toHaveLength(40)
  })

  it("counts undecodable rows too", async () => {
    const rows = rowsOf(1_000, 3, { malformedEvery: 2 })
    const stores = makeTestStores()
    const error = await run(Effect.flip(runOnce(makeMemorySource(rows), makeRecordingSink(), stores, { batchSize: 200, deadLetterLimit: { max: 99, window: 10_000 } })))
    expect(error.message).toMatch(/100 of the last 200 rows would be dead-lettered/)
  })
})

describe("what the progress says the pipeline is doing", () => {
  it("tells writing (a batch at the sink) from reading, and retrying (with the reason) from both", async () => {
    const rows = rowsOf(300)
    const sink = makeRecordingSink({ maxInFlight: 1 })
    const progress = new PipelineProgress("test")
    const seen: Array<string> = []
    await run(
      Effect.gen(function* () {
        const gate = yield* Deferred.make<void>()
        sink.script({ _tag: "Hold", gate }, { _tag: "Transient" }, { _tag: "Hold", gate })
        const fiber = yield* Effect.fork(runOnce(makeMemorySource(rows), sink, makeTestStores(), { batchSize: 100, progress, retry: { initialDelay: "100 millis" as never, maxDelay: "100 millis" as never, maxRetries: 3 } }))
        yield* waitUntil(() => sink.attempts() === 1)
        seen.push(progress.activity())
        yield* Deferred.succeed(gate, undefined)
        yield* waitUntil(() => progress.lastRetry !== undefined)
        seen.push(progress.activity())
        expect(progress.lastRetry).toMatch(/destination busy/)
        yield* Fiber.join(fiber)
        seen.push(progress.activity())
      })
    )
    expect(seen).toEqual(["writing", "retrying", "stopped"])
  })
})

describe("a stop while a batch is being retried", () => {
  it("cuts the wait before the next attempt short, commits what was acknowledged, and ends without failing", async () => {
    const rows = rowsOf(300)
    const sink = makeRecordingSink({ maxInFlight: 1 })
    const stores = makeTestStores()
    const progress = new PipelineProgress("test")
    await run(
      Effect.gen(function* () {
        const stop = yield* Deferred.make<void>()
        // Batch 0 is acknowledged; batch 1 fails every time. The first wait is up to an hour long, and the
        // test clock only moves when told to: without a cut-short wait the run could never end.
        const open = yield* Deferred.make<void>()
        yield* Deferred.succeed(open, undefined)
        sink.script({ _tag: "Hold", gate: open }, ...Array.from({ length: 20 }, () => ({ _tag: "Transient" as const })))
        const fiber = yield* Effect.fork(
          runOnce(makeMemorySource(rows), sink, stores, {
            batchSize: 100,
            inFlight: 1,
            mode: "follow",
            stop,
            progress,
            retry: { initialDelay: Duration.hours(1), maxDelay: Duration.hours(1), maxRetries: 10 }
          })
        )
        // Yields, not sleeps: the test clock does not move.
        yield* Effect.yieldNow().pipe(Effect.repeat({ until: () => sink.attempts() === 2 && progress.retries === 1 }))
        yield* Deferred.succeed(stop, undefined)
        const summary = yield* Fiber.join(fiber)
        expect(summary.exported).toBe(100)
        expect(stores.saves.map((s) => s.cursor.id)).toEqual([rows[99]!.id])
        // No attempt was made after the stop.
        expect(sink.attempts()).toBe(2)
      }).pipe(Effect.provide(TestContext.TestContext))
    )
  })
})

describe("the transform step", () => {
  // A transform written against core's contract alone: the engine does not know the expression language.
  const transform: EventTransform = {
    expressions: [],
    mapOnly: (event) => ({ _tag: "Keep", event, fields: { name: `mapped ${event.id}` } }),
    apply: (event) => {
      if (event.event !== "FlagValue") return { _tag: "Filtered" }
      if (event.flagKey.startsWith("checkout")) return { _tag: "Failed", reason: `filter: no checkout flag (${event.id})` }
      const next = { ...event, route: "/rewritten" }
      return { _tag: "Keep", event: next, fields: { name: `mapped ${event.id}` } }
    }
  }

  it("filters, dead-letters what an expression failed on, hands the sink the fields, and moves the cursor past all of them", async () => {
    const rows = rowsOf(2_000, 4, { flags: 60, users: 5_000 })
    const seen: Array<{ id: string; route: string; field: unknown }> = []
    const sink: Sink = {
      write: (batch) =>
        Effect.sync(() => {
          for (const event of batch.events) seen.push({ id: event.id, route: event.route, field: batch.fields?.(event)?.["name"] })
          return accepted
        })
    }
    const stores = makeTestStores()
    const progress = new PipelineProgress("test")
    const summary = await run(runOnce(makeMemorySource(rows), sink, stores, { batchSize: 128, transform, progress }))

    const events = rows.map((row) => Either.getOrThrow(decodeFeatBitRow(row)))
    const failing = events.filter((e) => e.event === "FlagValue" && e.flagKey.startsWith("checkout"))
    const kept = events.filter((e) => e.event === "FlagValue" && !e.flagKey.startsWith("checkout"))
    const filtered = events.length - kept.length - failing.length
    expect(failing.length).toBeGreaterThan(0)
    expect(filtered).toBeGreaterThan(0)
    expect(seen.map((s) => s.id)).toEqual(kept.map((e) => e.id))
    expect(seen.every((s) => s.route === "/rewritten" && s.field === `mapped ${s.id}`)).toBe(true)
    expect(summary).toMatchObject({ exported: kept.length, filtered, deadLettered: failing.length })
    expect(progress.deadLetteredBy).toEqual({ source: 0, transform: failing.length, sink: 0 })
    expect(stores.deadLetters.map((l) => [l.stage, l.id, l.reason])).toEqual(failing.map((e) => ["transform", e.id, `filter: no checkout flag (${e.id})`]))
    // The dead letter keeps the event as the source gave it, to be replayed once the expression is fixed.
    expect(stores.deadLetters[0]!.event).toEqual(failing[0])
    const checkpoint = stores.checkpoints.get("test")!
    expect(Cursor.compare(checkpoint.cursor, rows[rows.length - 1]!)).toBe(0)
    expect(checkpoint).toMatchObject({ exported: kept.length, filtered, deadLettered: failing.length })
  })
})
