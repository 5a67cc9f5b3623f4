import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { SinkError } from "../src/Errors.js"
import type { ExportEvent } from "../src/Event.js"
import { type PlannedRequest, batchFailure, batchPlans, sendPending } from "../src/PlannedRequests.js"
import type { RejectedEvent } from "../src/Sink.js"

const refused = (id: string): RejectedEvent => ({ event: { id } as ExportEvent, reason: `refused ${id}` })
const requestsOf = (count: number): Array<PlannedRequest & { n: number }> =>
  Array.from({ length: count }, (_, n) => ({ n, done: false, rejected: [] }))

describe("batchFailure", () => {
  it("is undefined without failures", () => {
    expect(batchFailure("p", [], 3)).toBeUndefined()
  })

  it("is the first fatal failure when there is one", () => {
    const fatal = SinkError.fatal("p", "bad key")
    expect(batchFailure("p", [SinkError.transient("p", "slow"), fatal, SinkError.fatal("p", "other")], 3)).toBe(fatal)
  })

  it("otherwise one transient error: the first's message, how many failed, the longest wait asked", () => {
    const cause = new Error("reset")
    const one = batchFailure("p", [SinkError.transient("p", "reset", { cause })], 4)!
    expect(one.retryable).toBe(true)
    expect(one.message).toBe("reset")
    expect(one.cause).toBe(cause)
    const many = batchFailure(
      "p",
      [
        SinkError.transient("p", "429", { retryAfter: Duration.seconds(2) }),
        SinkError.transient("p", "503"),
        SinkError.transient("p", "429", { retryAfter: Duration.seconds(7) })
      ],
      4
    )!
    expect(many.retryable).toBe(true)
    expect(many.message).toBe("3 of 4 requests failed; the first: 429")
    expect(many.retryAfter).toEqual(Duration.seconds(7))
    expect(batchFailure("p", [SinkError.transient("p", "a"), SinkError.transient("p", "b")], 2)!.retryAfter).toBeUndefined()
  })
})

describe("sendPending", () => {
  it("sends every request and collects what each refused", async () => {
    const requests = requestsOf(3)
    const rejected = await Effect.runPromise(
      sendPending("p", requests, (request) => Effect.succeed(request.n === 1 ? [refused("b")] : []), 2)
    )
    expect(rejected.map((event) => event.event.id)).toEqual(["b"])
    expect(requests.every((request) => request.done)).toBe(true)
  })

  it("remembers the acknowledged requests: a retry sends only the failed ones, and still returns every refusal", async () => {
    const requests = requestsOf(3)
    const sent: Array<number> = []
    let failing = true
    const send = (request: PlannedRequest & { n: number }) =>
      Effect.suspend(() => {
        sent.push(request.n)
        if (request.n === 2 && failing) return Effect.fail(SinkError.transient("p", "503"))
        return Effect.succeed(request.n === 0 ? [refused("a")] : [])
      })
    const first = await Effect.runPromise(Effect.either(sendPending("p", requests, send, 1)))
    expect(Either.isLeft(first) && first.left.message).toBe("503")
    failing = false
    const second = await Effect.runPromise(sendPending("p", requests, send, 1))
    expect(sent).toEqual([0, 1, 2, 2])
    expect(second.map((event) => event.event.id)).toEqual(["a"])
  })

  it("sends at most `concurrency` requests at a time", async () => {
    let running = 0
    let most = 0
    const send = () =>
      Effect.gen(function* () {
        running++
        most = Math.max(most, running)
        yield* Effect.sleep(Duration.millis(5))
        running--
        return []
      })
    await Effect.runPromise(sendPending("p", requestsOf(6), send, 2))
    expect(most).toBe(2)
  })
})

describe("batchPlans", () => {
  const batch = (sequence: number) => ({ sequence, events: [{ id: `e${sequence}` }] as unknown as ReadonlyArray<ExportEvent> })
  it("keeps a batch's plan across a transient failure, and drops it after success or a fatal failure", async () => {
    const planned = batchPlans<{ readonly made: number }>()
    let made = 0
    const make = Effect.sync(() => ({ made: ++made }))
    const seen: Array<number> = []
    const attempt = (sequence: number, outcome: "ok" | "transient" | "fatal") =>
      Effect.runPromise(
        Effect.either(
          planned(batch(sequence), make, (plan) => {
            seen.push(plan.made)
            return outcome === "ok" ? Effect.succeed(plan.made) : Effect.fail(outcome === "transient" ? SinkError.transient("p", "busy") : SinkError.fatal("p", "no"))
          })
        )
      )
    await attempt(1, "transient")
    await attempt(1, "ok")
    await attempt(1, "ok")
    await attempt(2, "fatal")
    await attempt(2, "ok")
    // The retry of batch 1 reused plan 1; after its success, and after batch 2's fatal failure, a new plan each time.
    expect(seen).toEqual([1, 1, 2, 3, 4])
  })
})
