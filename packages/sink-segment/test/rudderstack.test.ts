import { type ExportEvent, type PipelineError, type SinkError, isFlagValue } from "@featbit-export/core"
import { captureLogs, makeMemorySource, makeTestStores, runOnce, sinkConformance } from "@featbit-export/testkit"
import { generateRows } from "@featbit-export/source-generate"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { secretForms } from "../src/SegmentSink.js"
import { WRITE_KEY, flagEvent, run, sampleEvents, setup } from "./support.js"

// `type: segment` with a RudderStack data plane as `endpoint`: the receiver answers as RudderStack's
// gateway does (text answers, 400 "Empty batch payload" to an empty batch, whole-request 400s, 429
// without Retry-After, 4,096,000-byte requests).
const rudderstack = { flavor: "rudderstack" } as const

const failure = <A>(result: Either.Either<A, SinkError>): SinkError => {
  if (Either.isRight(result)) throw new Error("the write succeeded")
  return result.left
}

const NO_USER = "Request neither has anonymousId nor userId"

/** A track's "poison-" marker (see `poison` below), in its event name or its flag key. */
const poisoned = (item: Record<string, unknown>): boolean =>
  String(item["event"]).startsWith("poison-") || String((item["properties"] as Record<string, unknown> | undefined)?.["flagKey"]).startsWith("poison-")

let round = 0

sinkConformance("segment to rudderstack", {
  supports: ["transient", "fatal", "poison"],
  make: () =>
    Effect.gen(function* () {
      // RudderStack refuses the whole request for one bad event: the poisoned track is refused as one
      // without a user would be, and the sink must find it and deliver the rest.
      const { receiver, sink } = yield* setup({}, { ...rudderstack, refuse: (item) => (poisoned(item) ? NO_USER : undefined) })
      return {
        sink,
        delivered: () => Effect.sync(() => receiver.messageIds("track")),
        injectTransient: (times: number) =>
          Effect.sync(() => {
            for (let i = 0; i < times; i++) receiver.enqueueFaults(round++ % 2 === 0 ? { kind: "503" } : { kind: "429" })
          }),
        injectFatal: () => Effect.sync(() => receiver.setWriteKey("another-key")),
        poison: (event: ExportEvent): ExportEvent =>
          isFlagValue(event) ? { ...event, flagKey: `poison-${event.id}` } : { ...event, eventName: `poison-${event.id}` }
      }
    })
})

describe("segment sink against a RudderStack data plane", () => {
  it("exports 5,000 production-shaped events through the engine, each track delivered once under its FeatBit id", async () => {
    const rows = [...generateRows({ count: 5_000, seed: 4_711 })]
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({}, rudderstack)
        const stores = makeTestStores()
        const summary = yield* runOnce(makeMemorySource(rows), sink, stores, { batchSize: 1_000 })
        expect(summary.exported).toBe(rows.length)
        expect(stores.deadLetters).toEqual([])
        const tracks = receiver.messageIds("track")
        // The messageIds are the sink's (FeatBit ids), not UUIDs the gateway filled in.
        expect(tracks.slice().sort()).toEqual(rows.map((row) => row.id).sort())
        const identifies = receiver.messageIds("identify")
        expect(identifies.length).toBeGreaterThan(100)
        expect(new Set(identifies).size).toBe(identifies.length)
        const stats = receiver.stats()
        expect(stats.duplicates).toBe(0)
        expect(stats.statuses).toEqual({ "200": stats.requests })
      })
    )
  })

  it("check succeeds: the gateway took the write key and refused the empty batch only for being empty", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({}, rudderstack)
        const lines = yield* sink.check!
        expect(lines).toEqual([
          `${receiver.url}/v1/batch took the configured write key and refused the empty batch only for being empty (HTTP 400: Empty batch payload), as RudderStack's gateway does: it reads batches`
        ])
        expect(receiver.stats().statuses).toEqual({ "400": 1 })
        receiver.setWriteKey("another-key")
        const error = failure(yield* Effect.either(sink.check!))
        expect(error.retryable).toBe(false)
        expect(error.message).toContain("Segment refused the write key (HTTP 401")
      })
    )
  })

  it("an event refused with a whole-request 400 is dead-lettered with RudderStack's reason; the pipeline goes on and delivers the rest", async () => {
    // 801 rows in batches of 200: one refused event inside a batch, and one alone in the last batch (as a
    // follow-mode pipeline sends a trickle of events), where nothing else in the request can show that the
    // gateway takes requests and the sink asks with an empty batch.
    const rows = [...generateRows({ count: 801, seed: 77 })]
    const bad = [rows[437]!.id, rows[800]!.id]
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ identify: false }, { ...rudderstack, refuse: (item) => (bad.includes(item["messageId"] as string) ? NO_USER : undefined) })
        const stores = makeTestStores()
        const outcome = yield* Effect.either(runOnce(makeMemorySource(rows), sink, stores, { batchSize: 200 }))
        // Before the fix the empty batch's 400 read as "the endpoint refuses everything": the pipeline stopped.
        if (Either.isLeft(outcome)) throw new Error(`the pipeline stopped: ${(outcome.left as PipelineError).message}`)
        expect(outcome.right.exported).toBe(rows.length - 2)
        expect(stores.deadLetters.map((letter) => [letter.event?.id, letter.reason])).toEqual(bad.map((id) => [id, `Segment refused the event: HTTP 400 ${NO_USER}`]))
        const tracks = receiver.messageIds("track")
        expect(tracks.slice().sort()).toEqual(rows.filter((row) => !bad.includes(row.id)).map((row) => row.id).sort())
        const stats = receiver.stats()
        expect(stats.duplicates).toBe(0)
        // The whole-request refusals, the halves refused in turn, and one empty batch (Empty batch payload).
        expect(stats.statuses["400"]).toBeGreaterThan(bad.length + 1)
        expect(stores.checkpoints.get("test")).toBeDefined()
      })
    )
  })

  it("a lone refused event is dead-lettered after one empty batch, and the sink keeps sending", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ identify: false }, { ...rudderstack, refuse: (item) => (item["messageId"] === flagEvent().id ? NO_USER : undefined) })
        const result = yield* sink.write({ events: [flagEvent()], sequence: 0 })
        expect(result.rejected.map((r) => [r.event.id, r.reason])).toEqual([[flagEvent().id, `Segment refused the event: HTTP 400 ${NO_USER}`]])
        // The request, then the empty batch (400 Empty batch payload).
        expect(receiver.stats()).toMatchObject({ requests: 2, statuses: { "400": 2 } })
        const next = yield* sink.write({ events: sampleEvents(20, 3), sequence: 1 })
        expect(next.rejected).toEqual([])
        expect(receiver.messageIds("track")).toHaveLength(20)
      })
    )
  })

  it("401 is a typed fatal error that quotes the gateway's answer and not the write key", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({}, rudderstack)
        receiver.setWriteKey("the-right-key")
        const error = failure(yield* Effect.either(sink.write({ events: sampleEvents(10, 5), sequence: 0 })))
        expect(error._tag).toBe("SinkError")
        expect(error.retryable).toBe(false)
        expect(error.message).toBe(
          `Segment refused the write key (HTTP 401 from ${receiver.url}/v1/batch: Invalid Write Key): check sink.writeKey, it must be the write key of a Segment source of this workspace and region (or of a RudderStack source of this data plane)`
        )
        const text = `${error.message} ${JSON.stringify(error)} ${String(error)}`
        for (const form of secretForms(WRITE_KEY)) expect(text).not.toContain(form)
        expect(receiver.messageIds()).toEqual([])
      })
    )
  })

  it("404 Source is disabled is fatal and says so", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup(
          {},
          { ...rudderstack, faults: { probability: 1, seed: 1, kinds: [{ kind: "status", status: 404, body: "Source is disabled\n", contentType: "text/plain; charset=utf-8" }] } }
        )
        const error = failure(yield* Effect.either(sink.write({ events: [flagEvent()], sequence: 0 })))
        expect(error.retryable).toBe(false)
        expect(error.message).toBe(`${receiver.url}/v1/batch answered HTTP 404 (Source is disabled): the source of this write key is disabled; enable it, or check sink.writeKey`)
        const checked = failure(yield* Effect.either(sink.check!))
        expect(checked.message).toBe(error.message)
      })
    )
  })

  it("429 without Retry-After is transient with no wait of its own, and the engine's retries deliver", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({}, rudderstack)
        // The fault names a Retry-After; RudderStack's gateway sends none, and neither does the receiver.
        receiver.enqueueFaults({ kind: "429", retryAfter: "60" })
        const error = failure(yield* Effect.either(sink.write({ events: [flagEvent()], sequence: 0 })))
        expect(error.retryable).toBe(true)
        expect(error.retryAfter).toBeUndefined()
        expect(error.message).toContain("HTTP 429")

        const rows = [...generateRows({ count: 600, seed: 31 })]
        receiver.enqueueFaults(...Array.from({ length: 4 }, () => ({ kind: "429" as const, retryAfter: "60" })))
        const stores = makeTestStores()
        const summary = yield* runOnce(makeMemorySource(rows), sink, stores, { batchSize: 200 })
        expect(summary.exported).toBe(rows.length)
        expect(summary.retries).toBeGreaterThan(0)
        expect(receiver.stats().statuses["429"]).toBe(5)
        expect(new Set(receiver.messageIds("track"))).toEqual(new Set(rows.map((row) => row.id)))
      })
    )
  }, 30_000)

  it("413 Request size exceeds max limit (a data plane with a lower gateway.maxReqSizeInKB) is handled by halving: nothing dead-lettered", async () => {
    const events = sampleEvents(400, 9)
    const logs = captureLogs()
    await run(
      Effect.gen(function* () {
        // Small enough that the first halves are refused too, so the sink asks with an empty batch.
        const { receiver, sink } = yield* setup({ identify: false }, { ...rudderstack, maxRequestBytes: 25_000 })
        const result = yield* sink.write({ events, sequence: 0 })
        expect(result.rejected).toEqual([])
        expect(receiver.messageIds("track").slice().sort()).toEqual(events.map((e) => e.id).sort())
        const stats = receiver.stats()
        expect(stats.statuses["413"]).toBeGreaterThan(2)
        // The empty batch, answered Empty batch payload.
        expect(stats.statuses["400"]).toBe(1)
        expect(stats.duplicates).toBe(0)
      }).pipe(Effect.provide(logs.layer))
    )
    const warnings = logs.lines.filter((line) => line.includes("HTTP 413"))
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain("lower sink.maxBytesPerRequest (now 491520)")
  })
})
