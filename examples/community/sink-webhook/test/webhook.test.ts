import { type ExportEvent, decodeFeatBitRow } from "@featbit-export/core"
import { generateRows } from "@featbit-export/source-generate"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import { describe, expect, it } from "vitest"
import { idempotencyKey, makeWebhookSink } from "../src/index.js"
import { makeReceiver, secretOf } from "./receiver.js"

const events = (count: number): Array<ExportEvent> =>
  [...generateRows({ count, seed: 3 })].flatMap((row) => Either.match(decodeFeatBitRow(row), { onLeft: () => [], onRight: (e) => [e] }))

const attempt = (status: number, retryAfter?: string) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const receiver = yield* makeReceiver("k")
        receiver.faults.push(retryAfter === undefined ? { status } : { status, retryAfter })
        const sink = makeWebhookSink({ url: receiver.url, secret: secretOf("k"), timeoutMs: 5_000, maxInFlight: 1 })
        return yield* Effect.exit(sink.write({ events: events(3), sequence: 0 }))
      })
    )
  )

describe("webhook sink", () => {
  it("sends the batch's first..last ids as its Idempotency-Key", async () => {
    const batch = events(5)
    const keys = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const receiver = yield* makeReceiver("k")
          yield* makeWebhookSink({ url: receiver.url, secret: secretOf("k"), timeoutMs: 5_000, maxInFlight: 1 }).write({ events: batch, sequence: 0 })
          return receiver.idempotencyKeys
        })
      )
    )
    expect(keys).toEqual([idempotencyKey(batch)])
    expect(keys[0]).toBe(`${batch[0]!.id}..${batch[4]!.id}`)
  })

  it("classifies 5xx and 429 as transient, honouring Retry-After, and 401/403/404 as fatal", async () => {
    for (const status of [500, 503, 429]) {
      const exit = await attempt(status, "7")
      expect(Exit.isFailure(exit) && exit.cause._tag === "Fail" && exit.cause.error.retryable).toBe(true)
      if (Exit.isFailure(exit) && exit.cause._tag === "Fail") expect(exit.cause.error.retryAfter).toEqual(Duration.seconds(7))
    }
    for (const status of [401, 403, 404]) {
      const exit = await attempt(status)
      expect(Exit.isFailure(exit) && exit.cause._tag === "Fail" && exit.cause.error.retryable).toBe(false)
    }
  })

  it("classifies an unreachable webhook as transient", async () => {
    const sink = makeWebhookSink({ url: "http://127.0.0.1:9/hook", secret: secretOf("k"), timeoutMs: 2_000, maxInFlight: 1 })
    const exit = await Effect.runPromise(Effect.exit(sink.write({ events: events(1), sequence: 0 })))
    expect(Exit.isFailure(exit) && exit.cause._tag === "Fail" && exit.cause.error.retryable).toBe(true)
  })
})
