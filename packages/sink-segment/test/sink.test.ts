import * as http from "node:http"
import type { AddressInfo } from "node:net"
import type { SinkError } from "@featbit-export/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { captureLogs } from "@featbit-export/testkit"
import { parseRetryAfter } from "@featbit-export/core"
import { IDENTIFY_NAME_CUT, SegmentSink } from "../src/index.js"
import { WRITE_KEY, decodeConfig, flagEvent, metricEvent, run, sampleEvents, setup } from "./support.js"

const failure = <A>(result: Either.Either<A, SinkError>): SinkError => {
  if (Either.isRight(result)) throw new Error("the write succeeded")
  return result.left
}

describe("segment sink: requests", () => {
  it("splits a batch within Segment's count and byte limits, each request under 500 KB", async () => {
    const events = sampleEvents(6_000, 3)
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ identify: false })
        const result = yield* sink.write({ events, sequence: 0 })
        expect(result.rejected).toEqual([])
        const stats = receiver.stats()
        // 6,000 events need at least 3 requests of <= 2,500; none was refused for size.
        expect(stats.acceptedRequests).toBeGreaterThanOrEqual(3)
        expect(stats.statuses["400"]).toBeUndefined()
        expect(stats.droppedOverLimit).toBe(0)
        expect(new Set(receiver.messageIds("track"))).toEqual(new Set(events.map((e) => e.id)))
      })
    )
  })

  it("respects smaller configured limits", async () => {
    const events = sampleEvents(100, 4)
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ identify: false, maxEventsPerRequest: 7 })
        yield* sink.write({ events, sequence: 0 })
        expect(receiver.stats().acceptedRequests).toBe(Math.ceil(events.length / 7))
      })
    )
  })

  it("sends the Basic auth header of the write key and the messages with the FeatBit ids", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ identify: false })
        yield* sink.write({ events: [flagEvent(), metricEvent()], sequence: 0 })
        expect(receiver.messages.map((m) => m["messageId"])).toEqual([flagEvent().id, metricEvent().id])
        expect(receiver.messages[1]).toMatchObject({ event: "purchase", properties: { value: 42.5 } })
      })
    )
  })

  it("identifies each user once per run, across batches", async () => {
    const a = (id: string, user: string) => metricEvent({ id, user: { keyId: user, name: `name of ${user}` } })
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        yield* sink.write({ events: [a("e1", "u1"), a("e2", "u2"), a("e3", "u1")], sequence: 0 })
        yield* sink.write({ events: [a("e4", "u2"), a("e5", "u3")], sequence: 1 })
        const identifies = receiver.messages.filter((m) => m["type"] === "identify")
        expect(identifies.map((m) => m["userId"])).toEqual(["u1", "u2", "u3"])
        expect(identifies[2]).toMatchObject({ traits: { name: "name of u3" } })
        expect(receiver.messageIds("track")).toEqual(["e1", "e2", "e3", "e4", "e5"])
      })
    )
  })
})

describe("segment sink: an identify that cannot be sent as it is", () => {
  const bigUser = (id: string, name: string) => metricEvent({ id, user: { keyId: "user-big", name } })

  it("is sent with traits.name cut to its first 1,000 characters, once, and a warning says so", async () => {
    const name = "N".repeat(40_000)
    const logs = captureLogs()
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        const result = yield* sink.write({ events: [bigUser("e1", name), bigUser("e2", name)], sequence: 0 })
        expect(result.rejected).toEqual([])
        expect(receiver.messageIds("track")).toEqual(["e1", "e2"])
        const identifies = receiver.messages.filter((m) => m["type"] === "identify")
        expect(identifies).toHaveLength(1)
        expect(identifies[0]).toMatchObject({ userId: "user-big", traits: { name: `${"N".repeat(IDENTIFY_NAME_CUT)}…` } })
      }).pipe(Effect.provide(logs.layer))
    )
    const warnings = logs.lines.filter((line) => line.includes("identify"))
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/^sink segment: the identify of user "user-big" of environment env-1 is \d+ bytes, over Segment's \d+ bytes per event: sent with traits\.name cut from 40000 to 1000 characters$/)
  })

  it("cuts a name of emoji without splitting one (the cut falls inside a pair here)", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        yield* sink.write({ events: [bigUser("e1", `a${"😀".repeat(20_000)}`)], sequence: 0 })
        const cut = (receiver.messages.find((m) => m["type"] === "identify")!["traits"] as { name: string }).name
        // 1,000 UTF-16 units would end in the middle of the 500th emoji: it is left out whole.
        expect(cut).toBe(`a${"😀".repeat(IDENTIFY_NAME_CUT / 2 - 1)}…`)
        expect(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(cut)).toBe(false)
      })
    )
  })

  it("refused alone by Segment, is reported in a warning and not dead-lettered: its event's track is delivered", async () => {
    const logs = captureLogs()
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({}, { refuse: (item) => (item["type"] === "identify" && item["userId"] === "user-big" ? "bad traits" : undefined) })
        const result = yield* sink.write({ events: [bigUser("e1", "Grace"), metricEvent({ id: "e2" })], sequence: 0 })
        expect(result.rejected).toEqual([])
        // The half without the refused identify is taken first; e1 once its identify is split off.
        expect(receiver.messageIds("track")).toEqual(["e2", "e1"])
        expect(receiver.messages.filter((m) => m["type"] === "identify").map((m) => m["userId"])).toEqual(["user-1"])
      }).pipe(Effect.provide(logs.layer))
    )
    expect(logs.lines.filter((line) => line.includes("identify"))).toEqual([
      `sink segment: Segment refused the identify of user "user-big" of environment env-1: HTTP 400 {"error":"batch[0]: bad traits"}; its events are sent without it`
    ])
  })
})

describe("segment sink: responses", () => {
  it("isolates the events a 400 refuses by splitting the request, and delivers the rest", async () => {
    const events = sampleEvents(200, 5)
    const bad = new Set([events[17]!.id, events[150]!.id])
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup(
          { identify: false },
          { refuse: (item) => (bad.has(item["messageId"] as string) ? "invalid property" : undefined) }
        )
        const result = yield* sink.write({ events, sequence: 0 })
        expect(new Set(result.rejected.map((r) => r.event.id))).toEqual(bad)
        expect(result.rejected[0]!.reason).toContain("400")
        expect(result.rejected[0]!.reason).toContain("invalid property")
        const delivered = receiver.messageIds("track")
        expect(new Set(delivered)).toEqual(new Set(events.filter((e) => !bad.has(e.id)).map((e) => e.id)))
        expect(delivered.length).toBe(events.length - 2)
      })
    )
  })

  it("rejects an event over 32 KB without sending it", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ identify: false })
        const big = metricEvent({ id: "big", eventName: "é".repeat(17_000) })
        const result = yield* sink.write({ events: [flagEvent(), big], sequence: 0 })
        expect(result.rejected.map((r) => r.event.id)).toEqual(["big"])
        expect(result.rejected[0]!.reason).toMatch(/32 KB/)
        expect(receiver.messageIds()).toEqual([flagEvent().id])
      })
    )
  })

  it("fails fatally on 401 with a sentence about the write key that does not contain it", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        receiver.setWriteKey("the-right-key")
        const error = failure(yield* Effect.either(sink.write({ events: [flagEvent()], sequence: 0 })))
        expect(error.retryable).toBe(false)
        expect(error.message).toMatch(/write key/)
        expect(error.message).toContain("401")
        expect(JSON.stringify(error)).not.toContain(WRITE_KEY)
        expect(String(error)).not.toContain(WRITE_KEY)
        expect(receiver.messageIds()).toEqual([])
      })
    )
  })

  it("fails transiently on 429 with the Retry-After the receiver gave, in seconds or as a date", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        receiver.enqueueFaults({ kind: "429", retryAfter: "7" })
        const error = failure(yield* Effect.either(sink.write({ events: [flagEvent()], sequence: 0 })))
        expect(error.retryable).toBe(true)
        expect(error.retryAfter && Duration.toMillis(error.retryAfter)).toBe(7_000)

        const at = new Date(Date.now() + 120_000).toUTCString()
        receiver.enqueueFaults({ kind: "429", retryAfter: at })
        const dated = failure(yield* Effect.either(sink.write({ events: [flagEvent()], sequence: 0 })))
        const waitMs = Duration.toMillis(dated.retryAfter!)
        // An HTTP date has one-second resolution and the clock moves on: between 1 and 2 minutes.
        expect(waitMs).toBeGreaterThan(60_000)
        expect(waitMs).toBeLessThanOrEqual(120_000)
      })
    )
    expect(parseRetryAfter("1.5")).toEqual(Duration.millis(1500))
    expect(parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", Date.UTC(2015, 9, 21, 7, 27, 0))).toEqual(Duration.millis(60_000))
    expect(parseRetryAfter("soon")).toBeUndefined()
    expect(parseRetryAfter(null)).toBeUndefined()
  })

  it("fails transiently on 503 and on a dropped connection", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        for (const kind of ["503", "drop"] as const) {
          receiver.enqueueFaults({ kind })
          const error = failure(yield* Effect.either(sink.write({ events: [flagEvent()], sequence: 0 })))
          expect(error.retryable, kind).toBe(true)
        }
        expect(receiver.messageIds()).toEqual([])
        yield* sink.write({ events: [flagEvent()], sequence: 0 })
        expect(receiver.messageIds("track")).toEqual([flagEvent().id])
      })
    )
  })

  it("fails transiently when a request times out", async () => {
    await run(
      Effect.gen(function* () {
        // A server that accepts the connection and never answers.
        const server = http.createServer(() => undefined)
        yield* Effect.promise(() => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve)))
        yield* Effect.addFinalizer(() => Effect.sync(() => (server.closeAllConnections(), server.close())))
        const port = (server.address() as AddressInfo).port
        const silent = yield* SegmentSink.make(decodeConfig({ endpoint: `http://127.0.0.1:${port}`, requestTimeout: "200ms" }), {
          pipeline: "t",
          baseDir: "."
        })
        const error = failure(yield* Effect.either(silent.write({ events: [flagEvent()], sequence: 0 })))
        expect(error.retryable).toBe(true)
      })
    )
  })

  it("on a retry resends only the requests of the batch that were not acknowledged", async () => {
    const events = sampleEvents(50, 6)
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ identify: false, maxEventsPerRequest: 10, concurrency: 1 })
        const batch = { events, sequence: 3 }
        // One request at a time: the first of five requests fails, the four others are acknowledged.
        receiver.enqueueFaults({ kind: "503" })
        const error = failure(yield* Effect.either(sink.write(batch)))
        expect(error.retryable).toBe(true)
        expect(receiver.messageIds().length).toBe(40)
        // The retry sends only the missing ten.
        const result = yield* sink.write(batch)
        expect(result.rejected).toEqual([])
        expect(receiver.messageIds().length).toBe(50)
        expect(receiver.stats().duplicates).toBe(0)
        expect(new Set(receiver.messageIds())).toEqual(new Set(events.map((e) => e.id)))
      })
    )
  })

  it("check confirms the write key, and fails fatally on a wrong one", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        const lines = yield* sink.check!
        expect(lines.join(" ")).toContain(receiver.url)
        receiver.setWriteKey("other")
        const error = failure(yield* Effect.either(sink.check!))
        expect(error.retryable).toBe(false)
      })
    )
  })
})
