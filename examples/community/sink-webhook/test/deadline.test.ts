import { type ExportEvent, type SinkError, decodeFeatBitRow } from "@featbit-export/core"
import { generateRows } from "@featbit-export/source-generate"
import { collectingGarbage, makeMemorySource, makeTestStores, runOnce } from "@featbit-export/testkit"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Scope from "effect/Scope"
import { describe, expect, it } from "vitest"
import { makeWebhookSink } from "../src/index.js"
import { makeReceiver, secretOf } from "./receiver.js"

const TIMEOUT_MS = 500
/** Time for the transient error to surface past the deadline, on a busy two-core machine. */
const MARGIN_MS = 2_000

const events = (count: number): Array<ExportEvent> =>
  [...generateRows({ count, seed: 4 })].flatMap((row) => Either.match(decodeFeatBitRow(row), { onLeft: () => [], onRight: (e) => [e] }))

const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>): Promise<A> => Effect.runPromise(Effect.scoped(effect))

// Node 20's AbortSignal.timeout keeps its timer only while the signal is alive; composed with
// AbortSignal.any it is held weakly, and a garbage collection while the request waits loses the deadline
// (the request then waits for undici's 5 minutes). The sink that used it gave no error in 10 s here.
describe("webhook sink: every request has a deadline", () => {
  it("a webhook that never answers gives a transient error after timeoutMs, with garbage collected meanwhile", async () => {
    await run(
      Effect.gen(function* () {
        const receiver = yield* makeReceiver("k")
        receiver.hang = 1
        const sink = makeWebhookSink({ url: receiver.url, secret: secretOf("k"), timeoutMs: TIMEOUT_MS, maxInFlight: 1 })
        const collections = yield* collectingGarbage(5)
        const started = performance.now()
        const outcome = yield* Effect.either(sink.write({ events: events(3), sequence: 0 })).pipe(
          Effect.timeoutFail({ duration: Duration.seconds(10), onTimeout: () => new Error("no answer from the sink within 10 s") }),
          Effect.either
        )
        const elapsed = performance.now() - started
        expect(collections()).toBeGreaterThanOrEqual(3)
        expect(Either.isRight(outcome) ? "the write ended" : outcome.left.message).toBe("the write ended")
        const written = (outcome as Either.Right<never, Either.Either<unknown, SinkError>>).right
        expect(Either.isLeft(written)).toBe(true)
        const error = (written as Either.Left<SinkError, unknown>).left
        expect(error.retryable).toBe(true)
        expect(error.message).toBe(`the webhook did not answer within ${TIMEOUT_MS} ms (timeoutMs)`)
        expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS - 10)
        expect(elapsed).toBeLessThan(TIMEOUT_MS + MARGIN_MS)
        expect(receiver.delivered).toEqual([])
      })
    )
  })

  it("through the engine: the hanging request times out and the retry delivers once the webhook answers again", async () => {
    const rows = [...generateRows({ count: 30, seed: 5 })]
    await run(
      Effect.gen(function* () {
        const receiver = yield* makeReceiver("k")
        receiver.hang = 1
        const sink = makeWebhookSink({ url: receiver.url, secret: secretOf("k"), timeoutMs: TIMEOUT_MS, maxInFlight: 1 })
        const collections = yield* collectingGarbage(5)
        const stores = makeTestStores()
        const started = performance.now()
        const summary = yield* runOnce(makeMemorySource(rows), sink, stores, { batchSize: 100 }).pipe(
          Effect.timeoutFail({ duration: Duration.seconds(10), onTimeout: () => new Error("the pipeline did not finish within 10 s") })
        )
        const elapsed = performance.now() - started
        expect(collections()).toBeGreaterThanOrEqual(3)
        expect(summary.exported).toBe(rows.length)
        expect(summary.retries).toBe(1)
        expect(receiver.hang).toBe(0)
        expect(new Set(receiver.delivered)).toEqual(new Set(rows.map((row) => row.id)))
        expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS - 10)
        expect(elapsed).toBeLessThan(TIMEOUT_MS + MARGIN_MS)
      })
    )
  })
})
