import { makeMemorySource, makeTestStores, runOnce } from "@featbit-export/testkit"
import { generateRows } from "@featbit-export/source-generate"
import type { SinkError } from "@featbit-export/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { collectingGarbage } from "@featbit-export/testkit"
import { flagEvent, run, setup } from "./support.js"

const TIMEOUT_MS = 500
/** Time for the transient error to surface past the deadline, on a busy two-core machine. */
const MARGIN_MS = 2_000

// Node 20's AbortSignal.timeout keeps its timer only as long as the signal is alive; a signal composed with
// AbortSignal.any holds it weakly, so a garbage collection while the request waits loses the deadline and
// the request waits for undici's own 5-minute header timeout. Collecting every few milliseconds while a
// request waits on a silent endpoint reproduces that: the old sink gave no error in 10 s here.
describe("segment sink: every request has a deadline", () => {
  it("a request the endpoint never answers fails transiently after requestTimeout, with garbage collected meanwhile", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ requestTimeout: `${TIMEOUT_MS}ms` })
        const collections = yield* collectingGarbage(5)
        receiver.enqueueFaults({ kind: "hang" })
        const started = performance.now()
        const outcome = yield* Effect.either(sink.write({ events: [flagEvent()], sequence: 0 })).pipe(
          Effect.timeoutFail({ duration: Duration.seconds(10), onTimeout: () => new Error("no answer from the sink within 10 s") }),
          Effect.either
        )
        const elapsed = performance.now() - started
        expect(collections()).toBeGreaterThanOrEqual(3)
        // Left: the guard fired, the write never ended. Right(Left): the write failed, as it must.
        expect(Either.isRight(outcome) ? "the write ended" : outcome.left.message).toBe("the write ended")
        const written = (outcome as Either.Right<never, Either.Either<unknown, SinkError>>).right
        expect(Either.isLeft(written)).toBe(true)
        const error = (written as Either.Left<SinkError, unknown>).left
        expect(error.retryable).toBe(true)
        expect(error.message).toContain("did not answer within")
        expect(error.message).toContain(receiver.url)
        expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS - 10)
        expect(elapsed).toBeLessThan(TIMEOUT_MS + MARGIN_MS)
        expect(receiver.stats().faults).toBe(1)
      })
    )
  })

  it("through the engine: the hanging request times out, the retry delivers once the endpoint answers again", async () => {
    const rows = [...generateRows({ count: 40, seed: 21 })]
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ requestTimeout: `${TIMEOUT_MS}ms` })
        const collections = yield* collectingGarbage(5)
        receiver.enqueueFaults({ kind: "hang" })
        const stores = makeTestStores()
        const started = performance.now()
        const summary = yield* runOnce(makeMemorySource(rows), sink, stores, { batchSize: 100 }).pipe(
          Effect.timeoutFail({ duration: Duration.seconds(10), onTimeout: () => new Error("the pipeline did not finish within 10 s") })
        )
        const elapsed = performance.now() - started
        expect(collections()).toBeGreaterThanOrEqual(3)
        expect(summary.exported).toBe(rows.length)
        expect(summary.retries).toBe(1)
        expect(new Set(receiver.messageIds("track"))).toEqual(new Set(rows.map((row) => row.id)))
        expect(receiver.stats().faults).toBe(1)
        expect(stores.deadLetters).toEqual([])
        expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS - 10)
        expect(elapsed).toBeLessThan(TIMEOUT_MS + MARGIN_MS)
      })
    )
  })
})
