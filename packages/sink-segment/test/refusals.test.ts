import { type PipelineError, type SinkError } from "@featbit-export/core"
import { captureLogs, makeMemorySource, makeTestStores, runOnce } from "@featbit-export/testkit"
import { generateRows } from "@featbit-export/source-generate"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { answerExcerpt as shortBody } from "@featbit-export/core"
import { secretForms } from "../src/SegmentSink.js"
import { WRITE_KEY, flagEvent, metricEvent, run, sampleEvents, setup } from "./support.js"

const failure = <A>(result: Either.Either<A, SinkError>): SinkError => {
  if (Either.isRight(result)) throw new Error("the write succeeded")
  return result.left
}

/** Every form of the test write key a message must never contain. */
const keyForms = secretForms(WRITE_KEY)

/** The pipeline of 500 events, 5 batches of 100, 4 in flight, against an endpoint that answers `status` to everything. */
const refusedPipeline = (status: number, body: string, contentType = "application/json") =>
  run(
    Effect.gen(function* () {
      const { receiver, sink } = yield* setup({}, { faults: { probability: 1, seed: 1, kinds: [{ kind: "status", status, body, contentType }] } })
      const stores = makeTestStores()
      const outcome = yield* Effect.either(runOnce(makeMemorySource([...generateRows({ count: 500, seed: 12 })]), sink, stores))
      return { receiver, stores, outcome }
    })
  )

const pipelineFailure = (outcome: Either.Either<unknown, PipelineError>): PipelineError => {
  if (Either.isRight(outcome)) throw new Error("the pipeline finished")
  return outcome.left
}

describe("segment sink: a batch refused whole is the endpoint's problem", () => {
  it("an endpoint answering 400 to everything stops the pipeline fatally after a handful of requests: nothing dead-lettered, the cursor unmoved", async () => {
    const { receiver, stores, outcome } = await refusedPipeline(400, JSON.stringify({ error: "Bad Request: unknown source" }))
    const error = pipelineFailure(outcome)
    const reason = error.reason as SinkError
    expect(reason._tag).toBe("SinkError")
    expect(reason.retryable).toBe(false)
    expect(reason.message).toBe(
      `${receiver.url}/v1/batch answers HTTP 400 to whole requests and to an empty batch too ({"error":"Bad Request: unknown source"}), so the refusal is the endpoint's, not the events': check sink.endpoint, any proxy in front of it, and that the Segment source is enabled`
    )
    expect(error.message).toContain(reason.message)
    expect(stores.deadLetters).toEqual([])
    expect(stores.saves).toEqual([])
    expect(stores.checkpoints.size).toBe(0)
    const stats = receiver.stats()
    expect(stats.requests).toBeLessThanOrEqual(8)
    expect(stats.statuses["400"]).toBe(stats.requests)
    expect(stats.messages).toBe(0)
  })

  it("the same for 413 to everything, with an HTML page quoted as one short line", async () => {
    const page = "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    const { receiver, stores, outcome } = await refusedPipeline(413, page, "text/html")
    const reason = pipelineFailure(outcome).reason as SinkError
    expect(reason.retryable).toBe(false)
    expect(reason.message).toContain(`${receiver.url}/v1/batch answers HTTP 413 to whole requests and to an empty batch too (413 Request Entity Too Large 413 Request Entity Too Large nginx)`)
    expect(reason.message).not.toMatch(/[<>\r\n]/)
    expect(stores.deadLetters).toEqual([])
    expect(stores.saves).toEqual([])
    expect(receiver.stats().requests).toBeLessThanOrEqual(8)
  })

  it("never quotes the write key, in any of its forms, from an answer that echoes the request", async () => {
    const echo = `denied: Authorization: Basic ${Buffer.from(`${WRITE_KEY}:`).toString("base64")}; key=${WRITE_KEY}; ${Buffer.from(WRITE_KEY).toString("base64url")}`
    const { outcome } = await refusedPipeline(400, echo, "text/plain")
    const error = pipelineFailure(outcome)
    const text = `${error.message} ${JSON.stringify(error)} ${String(error)}`
    expect(keyForms.length).toBeGreaterThanOrEqual(5)
    for (const form of keyForms) expect(text).not.toContain(form)
    expect(error.reason.message).toContain("denied: Authorization: Basic [redacted]; key=[redacted]; [redacted]")
  })

  it("a lone event refused by an endpoint that takes an empty batch is dead-lettered; by one that refuses it too, fatal", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ identify: false }, { refuse: (item) => (item["messageId"] === flagEvent().id ? "invalid property" : undefined) })
        const result = yield* sink.write({ events: [flagEvent()], sequence: 0 })
        expect(result.rejected.map((r) => r.event.id)).toEqual([flagEvent().id])
        expect(result.rejected[0]!.reason).toBe(`Segment refused the event: HTTP 400 {"error":"batch[0]: invalid property"}`)
        // The request, then the empty batch that showed the endpoint takes requests.
        expect(receiver.stats().requests).toBe(2)
        expect(receiver.stats().acceptedRequests).toBe(1)
      })
    )
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ identify: false }, { faults: { probability: 1, seed: 1, kinds: [{ kind: "status", status: 400 }] } })
        const error = failure(yield* Effect.either(sink.write({ events: [flagEvent()], sequence: 0 })))
        expect(error.retryable).toBe(false)
        expect(error.message).toContain("and to an empty batch too")
        expect(receiver.stats().requests).toBe(2)
        // Once the endpoint refused everything, the sink sends nothing more.
        const again = failure(yield* Effect.either(sink.write({ events: [metricEvent()], sequence: 1 })))
        expect(again.message).toBe(error.message)
        expect(receiver.stats().requests).toBe(2)
      })
    )
  })

  it("two refused events in different halves are isolated and dead-lettered, the rest delivered", async () => {
    const events = sampleEvents(64, 8)
    const bad = new Set([events[3]!.id, events[40]!.id])
    await run(
      Effect.gen(function* () {
        // The same answer for both, as Segment gives when it does not name the item.
        const { receiver, sink } = yield* setup({ identify: false }, { refuse: (item) => (bad.has(item["messageId"] as string) ? "invalid" : undefined) })
        const result = yield* sink.write({ events, sequence: 0 })
        expect(new Set(result.rejected.map((r) => r.event.id))).toEqual(bad)
        expect(new Set(receiver.messageIds("track"))).toEqual(new Set(events.filter((e) => !bad.has(e.id)).map((e) => e.id)))
        // 1 + 2 halves + the empty batch + 2 x (2 + 2 + 2 + 2 + 2) down to the single events.
        expect(receiver.stats().requests).toBe(24)
      })
    )
  })

  it("isolates a refused event among messages of non-ASCII text (parts are cut from the joined JSON by position)", async () => {
    const events = Array.from({ length: 9 }, (_, i) =>
      flagEvent({ id: `e${i}`, flagKey: `結帳-${"é".repeat(i)}-🛒`, user: { keyId: `用户-${i % 3}`, name: `Zoë ${"𝄞".repeat(i)}` } })
    )
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({}, { refuse: (item) => (item["messageId"] === "e5" ? "invalid" : undefined) })
        const result = yield* sink.write({ events, sequence: 0 })
        expect(result.rejected.map((r) => r.event.id)).toEqual(["e5"])
        expect(receiver.messageIds("track").slice().sort()).toEqual(["e0", "e1", "e2", "e3", "e4", "e6", "e7", "e8"])
        expect(receiver.messageIds("identify")).toHaveLength(3)
        expect(receiver.stats().statuses["400"]).toBeGreaterThan(1)
        // Every part arrived as valid JSON with its text intact.
        expect(receiver.messages.find((m) => m["messageId"] === "e8")).toMatchObject({ properties: { flagKey: `結帳-${"é".repeat(8)}-🛒` } })
      })
    )
  })

  it("a request over a proxy's size limit (413) is split until the parts pass, nothing dead-lettered, with one warning naming maxBytesPerRequest", async () => {
    const events = sampleEvents(400, 9)
    const logs = captureLogs()
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ identify: false }, { maxRequestBytes: 60_000 })
        const result = yield* sink.write({ events, sequence: 0 })
        expect(result.rejected).toEqual([])
        expect(new Set(receiver.messageIds("track"))).toEqual(new Set(events.map((e) => e.id)))
        expect(receiver.stats().statuses["413"]).toBeGreaterThan(0)
        yield* sink.write({ events: sampleEvents(400, 10), sequence: 1 })
      }).pipe(Effect.provide(logs.layer))
    )
    const warnings = logs.lines.filter((line) => line.includes("HTTP 413"))
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain("lower sink.maxBytesPerRequest (now 491520)")
  })

  it("check: an endpoint refusing an empty batch with 400 fails fatally, saying so", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({}, { faults: { probability: 1, seed: 1, kinds: [{ kind: "status", status: 400, body: "no" }] } })
        const error = failure(yield* Effect.either(sink.check!))
        expect(error.retryable).toBe(false)
        expect(error.message).toBe(
          `${receiver.url}/v1/batch answers HTTP 400 to an empty batch (no), so the refusal is the endpoint's, not the events': check sink.endpoint, any proxy in front of it, and that the Segment source is enabled`
        )
      })
    )
  })

  it("a 401 and a 403 stay fatal, naming the write key without showing it", async () => {
    for (const status of [401, 403]) {
      await run(
        Effect.gen(function* () {
          const { receiver, sink } = yield* setup({}, { faults: { probability: 1, seed: 1, kinds: [{ kind: "status", status }] } })
          const error = failure(yield* Effect.either(sink.write({ events: [flagEvent(), metricEvent()], sequence: 0 })))
          expect(error.retryable, String(status)).toBe(false)
          expect(error.message).toContain(`Segment refused the write key (HTTP ${status}`)
          for (const form of keyForms) expect(JSON.stringify(error)).not.toContain(form)
          expect(receiver.stats().requests).toBe(1)
        })
      )
    }
  })
})

describe("shortBody", () => {
  it("strips markup, joins lines, replaces the key's forms and cuts long answers", () => {
    expect(shortBody("<p>no\n  way</p>", keyForms)).toBe("no way")
    expect(shortBody(`x ${WRITE_KEY} y`, keyForms)).toBe("x [redacted] y")
    expect(shortBody("a".repeat(500), keyForms)).toBe(`${"a".repeat(160)}…`)
  })
})
