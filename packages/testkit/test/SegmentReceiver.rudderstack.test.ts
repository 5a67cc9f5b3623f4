import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { describe, expect, it } from "vitest"
import { RUDDERSTACK_MAX_REQUEST_BYTES, segmentReceiver } from "../src/index.js"

const KEY = "rudder-write-key"
const basic = (credentials: string) => `Basic ${Buffer.from(credentials).toString("base64")}`
const track = (id: string, user: Record<string, string> = { userId: "u" }) => ({ type: "track", messageId: id, event: "e", ...user })

/** POSTs `body` (an object is sent as JSON) to /v1/batch, without Authorization when null; the status, content type, Retry-After and body text. */
const post = (url: string, body: unknown, authorization: string | null = basic(`${KEY}:`)) =>
  Effect.promise(async () => {
    const response = await fetch(`${url}/v1/batch`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(authorization === null ? {} : { authorization }) },
      body: typeof body === "string" ? body : JSON.stringify(body)
    })
    return {
      status: response.status,
      type: response.headers.get("content-type"),
      retryAfter: response.headers.get("retry-after"),
      text: await response.text()
    }
  })

const run = <A>(effect: Effect.Effect<A, unknown, Scope.Scope>) => Effect.runPromise(Effect.scoped(effect))
const rudder = (options: { refuse?: (item: Record<string, unknown>) => string | undefined } = {}) =>
  segmentReceiver({ writeKey: KEY, flavor: "rudderstack", ...options })

describe("segment receiver, rudderstack flavor: answers as RudderStack's gateway", () => {
  it("takes a batch with OK as text/plain and records it", async () => {
    await run(
      Effect.gen(function* () {
        const receiver = yield* rudder()
        const answer = yield* post(receiver.url, { batch: [track("a"), track("b", { anonymousId: "anon" })] })
        expect(answer).toEqual({ status: 200, type: "text/plain; charset=utf-8", retryAfter: null, text: "OK" })
        expect(receiver.messageIds()).toEqual(["a", "b"])
        // The user of the Basic credentials is the write key, whatever the password.
        expect((yield* post(receiver.url, { batch: [track("c")] }, basic(`${KEY}:anything`))).status).toBe(200)
      })
    )
  })

  it("refuses an empty batch with 400 Empty batch payload, after the write key", async () => {
    await run(
      Effect.gen(function* () {
        const receiver = yield* rudder()
        expect(yield* post(receiver.url, { batch: [] })).toMatchObject({ status: 400, type: "text/plain; charset=utf-8", text: "Empty batch payload\n" })
        expect(yield* post(receiver.url, { batch: [] }, basic("other:"))).toMatchObject({ status: 401, text: "Invalid Write Key\n" })
        expect(receiver.stats().statuses).toEqual({ "400": 1, "401": 1 })
      })
    )
  })

  it("refuses the whole request when one event has neither userId nor anonymousId, or is not an object", async () => {
    await run(
      Effect.gen(function* () {
        const receiver = yield* rudder()
        const noUser = yield* post(receiver.url, { batch: [track("a"), track("b", {}), track("c")] })
        expect(noUser).toMatchObject({ status: 400, text: "Request neither has anonymousId nor userId\n" })
        expect(yield* post(receiver.url, { batch: [track("a"), 7] })).toMatchObject({ status: 400, text: "Event is not a valid rudder event\n" })
        expect(yield* post(receiver.url, "{not json")).toMatchObject({ status: 400, text: "Invalid JSON\n" })
        expect(receiver.messageIds()).toEqual([])
      })
    )
  })

  it("sends a refuse rule's reason as it is, refusing the whole request", async () => {
    await run(
      Effect.gen(function* () {
        const receiver = yield* rudder({ refuse: (item) => (item["messageId"] === "bad" ? "Source is disabled" : undefined) })
        expect(yield* post(receiver.url, { batch: [track("ok"), track("bad")] })).toMatchObject({ status: 400, text: "Source is disabled\n" })
        expect(receiver.messageIds()).toEqual([])
      })
    )
  })

  it("answers 413 past 4,096,000 bytes of body, takes a body at the limit, and has no 32 KB per-event rule", async () => {
    await run(
      Effect.gen(function* () {
        const receiver = yield* rudder()
        expect(RUDDERSTACK_MAX_REQUEST_BYTES).toBe(4_096_000)
        // A body of exactly `bytes` bytes: one event whose property pads it.
        const sized = (id: string, bytes: number) => {
          const empty = JSON.stringify({ batch: [{ ...track(id), properties: { pad: "" } }] })
          return JSON.stringify({ batch: [{ ...track(id), properties: { pad: "x".repeat(bytes - empty.length) } }] })
        }
        const over = sized("over", RUDDERSTACK_MAX_REQUEST_BYTES + 1)
        expect(over.length).toBe(RUDDERSTACK_MAX_REQUEST_BYTES + 1)
        expect(yield* post(receiver.url, over)).toMatchObject({ status: 413, text: "Request size exceeds max limit\n" })
        const at = sized("at", RUDDERSTACK_MAX_REQUEST_BYTES)
        expect(at.length).toBe(RUDDERSTACK_MAX_REQUEST_BYTES)
        expect(yield* post(receiver.url, at)).toMatchObject({ status: 200, text: "OK" })
        expect(receiver.messageIds()).toEqual(["at"])
        // The write key is checked before the size.
        expect(yield* post(receiver.url, over, basic("other:"))).toMatchObject({ status: 401, text: "Invalid Write Key\n" })
      })
    )
  })

  it("401 bodies: no credentials, a header that is not Basic, a wrong key", async () => {
    await run(
      Effect.gen(function* () {
        const receiver = yield* rudder()
        // RudderStack reads the key from the header only: a writeKey in the body does not count.
        expect(yield* post(receiver.url, { writeKey: KEY, batch: [track("a")] }, null)).toMatchObject({ status: 401, text: "Failed to read writeKey from header\n" })
        expect(yield* post(receiver.url, { batch: [track("a")] }, `Bearer ${KEY}`)).toMatchObject({ status: 401, text: "Failed to read writeKey from header\n" })
        expect(yield* post(receiver.url, { batch: [track("a")] }, basic(":"))).toMatchObject({ status: 401, text: "Failed to read writeKey from header\n" })
        expect(yield* post(receiver.url, { batch: [track("a")] }, basic("wrong:"))).toMatchObject({ status: 401, type: "text/plain; charset=utf-8", text: "Invalid Write Key\n" })
        expect(receiver.messageIds()).toEqual([])
      })
    )
  })

  it("fills a missing messageId with a random UUID and takes more than 2,500 messages", async () => {
    await run(
      Effect.gen(function* () {
        const receiver = yield* rudder()
        const { messageId: _, ...noId } = track("x")
        expect((yield* post(receiver.url, { batch: [noId, noId] })).status).toBe(200)
        const [first, second] = receiver.messageIds()
        expect(first).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
        expect(second).not.toBe(first)
        const many = Array.from({ length: 3_000 }, (_, i) => track(`m${i}`))
        expect((yield* post(receiver.url, { batch: many })).status).toBe(200)
        expect(receiver.stats()).toMatchObject({ unique: 3_002, droppedOverLimit: 0 })
      })
    )
  })

  it("plays the 429 fault without Retry-After (even when the fault names one) and 503 as text", async () => {
    await run(
      Effect.gen(function* () {
        const receiver = yield* rudder()
        receiver.enqueueFaults({ kind: "429", retryAfter: "5" }, { kind: "503" })
        expect(yield* post(receiver.url, { batch: [track("a")] })).toEqual({
          status: 429,
          type: "text/plain; charset=utf-8",
          retryAfter: null,
          text: "Max Requests Limit reached\n"
        })
        expect(yield* post(receiver.url, { batch: [track("a")] })).toMatchObject({ status: 503, text: "Service unavailable\n" })
        expect((yield* post(receiver.url, { batch: [track("a")] })).text).toBe("OK")
      })
    )
  })

  it("the segment flavor still answers as before: JSON, 200 to an empty batch, Retry-After on 429", async () => {
    await run(
      Effect.gen(function* () {
        const receiver = yield* segmentReceiver({ writeKey: KEY })
        expect(yield* post(receiver.url, { batch: [] })).toEqual({ status: 200, type: "application/json", retryAfter: null, text: '{"success":true}' })
        expect(yield* post(receiver.url, { batch: [track("b", {})] })).toMatchObject({ status: 400, text: '{"error":"batch[0] has neither userId nor anonymousId"}' })
        expect(yield* post(receiver.url, { batch: [] }, basic("wrong:"))).toMatchObject({ status: 401, text: '{"error":"invalid write key"}' })
        receiver.enqueueFaults({ kind: "429", retryAfter: "5" })
        expect(yield* post(receiver.url, { batch: [track("a")] })).toMatchObject({ status: 429, retryAfter: "5", text: '{"error":"rate limited"}' })
      })
    )
  })
})
