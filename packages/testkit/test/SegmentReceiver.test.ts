import * as Effect from "effect/Effect"
import { describe, expect, it } from "vitest"
import { segmentReceiver } from "../src/index.js"

const KEY = "receiver-test-key"
const auth = `Basic ${Buffer.from(`${KEY}:`).toString("base64")}`
const track = (id: string) => ({ type: "track", messageId: id, userId: "u", event: "e", timestamp: "2024-01-01T00:00:00Z" })
const post = (url: string, batch: Array<unknown>, signal: AbortSignal | null = null) =>
  fetch(`${url}/v1/batch`, { method: "POST", headers: { authorization: auth, "content-type": "application/json" }, body: JSON.stringify({ batch }), signal })

const run = <A>(effect: Effect.Effect<A, unknown, import("effect/Scope").Scope>) => Effect.runPromise(Effect.scoped(effect))

describe("segment receiver: the faults a sink's deadline and refusal handling are tested with", () => {
  it("hang: reads the request and never answers, records nothing, then answers the next one", async () => {
    await run(
      Effect.gen(function* () {
        const receiver = yield* segmentReceiver({ writeKey: KEY })
        receiver.enqueueFaults({ kind: "hang" })
        const giveUp = new AbortController()
        const timer = setTimeout(() => giveUp.abort(), 300)
        const outcome = yield* Effect.promise(() =>
          post(receiver.url, [track("a")], giveUp.signal).then(
            (response) => `answered ${response.status}`,
            (error: Error) => error.name
          )
        )
        clearTimeout(timer)
        expect(outcome).toBe("AbortError")
        const next = yield* Effect.promise(() => post(receiver.url, [track("b")]))
        expect(next.status).toBe(200)
        expect(receiver.messageIds()).toEqual(["b"])
        expect(receiver.stats()).toMatchObject({ requests: 2, faults: 1, acceptedRequests: 1 })
      })
    )
  })

  it("status: answers the given status and body, unread, and counts it", async () => {
    await run(
      Effect.gen(function* () {
        const receiver = yield* segmentReceiver({ writeKey: KEY, faults: { probability: 1, seed: 1, kinds: [{ kind: "status", status: 413, body: "<h1>too big</h1>", contentType: "text/html" }] } })
        for (const batch of [[track("a")], []]) {
          const response = yield* Effect.promise(() => post(receiver.url, batch))
          expect(response.status).toBe(413)
          expect(response.headers.get("content-type")).toBe("text/html")
          expect(yield* Effect.promise(() => response.text())).toBe("<h1>too big</h1>")
        }
        expect(receiver.messageIds()).toEqual([])
        expect(receiver.stats().statuses).toEqual({ "413": 2 })
      })
    )
  })

  it("maxRequestBytes: a larger body is answered 413 like a proxy's limit, a smaller one is taken", async () => {
    await run(
      Effect.gen(function* () {
        const receiver = yield* segmentReceiver({ writeKey: KEY, maxRequestBytes: 1_000 })
        const big = yield* Effect.promise(() => post(receiver.url, Array.from({ length: 20 }, (_, i) => track(`big-${i}`))))
        expect(big.status).toBe(413)
        const small = yield* Effect.promise(() => post(receiver.url, [track("small")]))
        expect(small.status).toBe(200)
        expect(receiver.messageIds()).toEqual(["small"])
      })
    )
  })
})
