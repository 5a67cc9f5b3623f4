import type { SinkError } from "@featbit-export/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { afterEach, describe, expect, it, vi } from "vitest"
import { captureLogs, mixpanelReceiver } from "@featbit-export/testkit"
import { answerSecretForms as secretForms, parseRetryAfter } from "@featbit-export/core"
import { MIXPANEL_LIMITS, insertIdOf } from "../src/index.js"
import {
  PROJECT_ID,
  PROJECT_TOKEN,
  SA_SECRET,
  SA_USER,
  authProxy,
  decodeConfig,
  featbitIds,
  flagEvent,
  makeSink,
  metricEvent,
  receiverOptions,
  run,
  sampleEvents,
  setup
} from "./support.js"

const failure = <A>(result: Either.Either<A, SinkError>): SinkError => {
  if (Either.isRight(result)) throw new Error("the write succeeded")
  return result.left
}

/** Every form of every test secret a message must never contain. */
const secretsOf = secretForms([SA_SECRET, `${SA_USER}:${SA_SECRET}`, PROJECT_TOKEN, `${PROJECT_TOKEN}:`])
const expectNoSecret = (text: string) => {
  for (const form of secretsOf) expect(text, `contains ${form}`).not.toContain(form)
}

describe("mixpanel sink: requests", () => {
  it("posts to /import?strict=1 with the service account, project_id, a gzipped JSON array", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        const result = yield* sink.write({ events: [flagEvent(), metricEvent()], sequence: 0 })
        expect(result.rejected).toEqual([])
        expect(receiver.requests).toHaveLength(1)
        expect(receiver.requests[0]).toMatchObject({
          status: 200,
          query: { strict: "1", project_id: PROJECT_ID },
          auth: "serviceAccount",
          gzip: true,
          format: "json",
          count: 2,
          imported: 2
        })
        // Gzip pays: the body on the wire is smaller than its JSON.
        expect(receiver.requests[0]!.bytes).toBeLessThan(Buffer.byteLength(JSON.stringify(receiver.received)))
      })
    )
  })

  it("authenticates with the project secret (or token) as the Basic username, without project_id", async () => {
    await run(
      Effect.gen(function* () {
        const receiver = yield* mixpanelReceiver(receiverOptions())
        const sink = yield* makeSink(decodeConfig({ projectSecret: PROJECT_TOKEN, endpoint: receiver.url }))
        yield* sink.write({ events: [metricEvent()], sequence: 0 })
        expect(receiver.requests[0]).toMatchObject({ status: 200, auth: "token", query: { strict: "1" } })
        expect(receiver.requests[0]!.query["project_id"]).toBeUndefined()
      })
    )
  })

  it("maps a flag evaluation, an experiment exposure and a metric: $insert_id from the FeatBit id, time in ms, distinct_id = user key", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        const exposure = flagEvent({ id: "0b7a3c1e-0000-4000-8000-00000000000a", sendToExperiment: true, variationName: "Blue" })
        yield* sink.write({ events: [flagEvent(), exposure, metricEvent()], sequence: 0 })
        const [flag, experiment, metric] = receiver.events
        expect(flag).toEqual({
          event: "Feature Flag Evaluated",
          properties: {
            time: 1709633472123,
            distinct_id: "user-1",
            $insert_id: "0b7a3c1e000040008000000000000001",
            ip: "0",
            featbitId: "0b7a3c1e-0000-4000-8000-000000000001",
            flagKey: "new-checkout",
            flagId: "flag-id-1",
            variationId: "var-b",
            sendToExperiment: false,
            envId: "env-1",
            accountId: "acc",
            projectId: "proj",
            route: "/home"
          }
        })
        expect(experiment).toMatchObject({
          event: "$experiment_started",
          properties: { "Experiment name": "new-checkout", "Variant name": "Blue", $insert_id: "0b7a3c1e00004000800000000000000a" }
        })
        expect(metric).toMatchObject({ event: "purchase", properties: { value: 42.5, type: "CustomEvent", distinct_id: "user-1" } })
      })
    )
  })

  it("keeps $insert_id within Mixpanel's rules for any FeatBit id, the same on every call", () => {
    expect(insertIdOf("0B7A3C1E-0000-4000-8000-000000000001")).toBe("0b7a3c1e000040008000000000000001")
    expect(insertIdOf("e-42")).toBe("e-42")
    for (const id of ["", "null", "00000000-0000-0000-0000-000000000000", "x".repeat(37), "a b", "ünïcode", "id_with_underscore"]) {
      const insertId = insertIdOf(id)
      expect(insertId, id).toMatch(/^[0-9a-f]{32}$/)
      expect(insertIdOf(id)).toBe(insertId)
    }
    expect(insertIdOf("a b")).not.toBe(insertIdOf("a  b"))
  })

  it("splits a batch within 2,000 events per request", async () => {
    const events = sampleEvents(6_000, 3)
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        const result = yield* sink.write({ events, sequence: 0 })
        expect(result.rejected).toEqual([])
        expect(receiver.requests.length).toBe(3)
        expect(receiver.requests.every((r) => r.count <= MIXPANEL_LIMITS.maxEventsPerRequest && r.status === 200)).toBe(true)
        expect(new Set(featbitIds(receiver))).toEqual(new Set(events.map((e) => e.id)))
      })
    )
  })

  it("splits by uncompressed bytes: large events stay under the 2,097,152 bytes of the OpenAPI, no 413 seen", async () => {
    const events = sampleEvents(3_000, 4)
    const padding = "p".repeat(200)
    // 3,000 events of about 2.9 KB of properties each: 8.7 MB in all, which takes at least 5 requests.
    const fields = () => ({ properties: Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`pad${i}`, padding])) })
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({}, { maxRequestBytes: 2_097_152 })
        const result = yield* sink.write({ events, sequence: 0, fields })
        expect(result.rejected).toEqual([])
        expect(receiver.stats().statuses["413"]).toBeUndefined()
        expect(receiver.requests.length).toBeGreaterThanOrEqual(5)
        expect(new Set(receiver.insertIds())).toEqual(new Set(events.map((e) => insertIdOf(e.id))))
      })
    )
  })

  it("respects smaller configured limits", async () => {
    const events = sampleEvents(100, 5)
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ maxEventsPerRequest: 7 })
        yield* sink.write({ events, sequence: 0 })
        expect(receiver.requests.length).toBe(Math.ceil(events.length / 7))
        const small = yield* setup({ maxBytesPerRequest: 5_000 }, { maxRequestBytes: 5_000 })
        yield* small.sink.write({ events, sequence: 0 })
        expect(small.receiver.stats().statuses["413"]).toBeUndefined()
        expect(small.receiver.requests.length).toBeGreaterThanOrEqual(10)
        expect(small.receiver.requests.every((r) => r.count < 20)).toBe(true)
        expect(small.receiver.stats().unique).toBe(events.length)
      })
    )
  })

  it("refuses an event over Mixpanel's 1 MB before sending it, and sends the rest", async () => {
    const big = metricEvent({ id: "big-1" })
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        const result = yield* sink.write({
          events: [big, flagEvent()],
          sequence: 0,
          fields: (event) => (event.id === "big-1" ? { properties: { blob: "b".repeat(1_100_000) } } : undefined)
        })
        expect(result.rejected.map((r) => r.event.id)).toEqual(["big-1"])
        expect(result.rejected[0]!.reason).toMatch(/^its Mixpanel event is \d+ bytes of JSON \(with its properties from sink\.map\), over the limit of 1048575 bytes per event/)
        expect(featbitIds(receiver)).toEqual([flagEvent().id])
      })
    )
  })

  it("halves a request a proxy refuses with 413, warns once, and delivers everything", async () => {
    const events = sampleEvents(400, 6)
    const logs = captureLogs()
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({}, { maxRequestBytes: 60_000 })
        const result = yield* sink.write({ events, sequence: 0 })
        expect(result.rejected).toEqual([])
        expect(receiver.stats().statuses["413"]).toBeGreaterThan(0)
        expect(receiver.stats().unique).toBe(events.length)
      }).pipe(Effect.provide(logs.layer))
    )
    const warnings = logs.lines.filter((line) => line.includes("413"))
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain("lower sink.maxBytesPerRequest (now 2000000)")
  })

  it("stops fatally when the endpoint refuses even an empty request with 413, dead-lettering nothing", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({}, { maxRequestBytes: 1 })
        const error = failure(yield* Effect.either(sink.write({ events: sampleEvents(300, 7), sequence: 0 })))
        expect(error.retryable).toBe(false)
        expect(error.message).toContain("answers HTTP 413 to requests of events and HTTP 413 to an empty one")
        expect(receiver.requests.length).toBe(2)
      })
    )
  })
})

describe("mixpanel sink: failures", () => {
  it("429 without Retry-After: transient, no wait given; the retry sends only the unacknowledged requests", async () => {
    const events = sampleEvents(400, 8)
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ maxEventsPerRequest: 100 })
        receiver.fault({ kind: "429" })
        const error = failure(yield* Effect.either(sink.write({ events, sequence: 0 })))
        expect(error.retryable).toBe(true)
        expect(error.retryAfter).toBeUndefined()
        expect(error.message).toContain("Mixpanel is rate limiting the project (HTTP 429 from")
        const result = yield* sink.write({ events, sequence: 0 })
        expect(result.rejected).toEqual([])
        expect(receiver.requests.length).toBe(5)
        expect(receiver.stats().duplicates).toBe(0)
        expect(receiver.stats().unique).toBe(events.length)
      })
    )
  })

  it("429 with Retry-After: transient with the wait (seconds or an HTTP date)", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        receiver.fault({ kind: "429", retryAfter: "7" })
        const error = failure(yield* Effect.either(sink.write({ events: [metricEvent()], sequence: 0 })))
        expect(error.retryable).toBe(true)
        expect(error.retryAfter).toEqual(Duration.seconds(7))
      })
    )
    expect(parseRetryAfter(new Date(Date.UTC(2030, 0, 1, 0, 0, 30)).toUTCString(), Date.UTC(2030, 0, 1))).toEqual(Duration.millis(30_000))
    expect(parseRetryAfter("soon")).toBeUndefined()
  })

  it("502, 503 and a reset connection are transient", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        for (const kind of ["502", "503", "reset"] as const) {
          receiver.fault({ kind })
          const error = failure(yield* Effect.either(sink.write({ events: [metricEvent()], sequence: 0 })))
          expect(error.retryable, kind).toBe(true)
        }
        yield* sink.write({ events: [metricEvent()], sequence: 0 })
        expect(featbitIds(receiver)).toEqual([metricEvent().id])
      })
    )
  })

  it("a request never answered fails transiently after requestTimeout", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ requestTimeout: "300ms" })
        receiver.fault({ kind: "hang" })
        const started = Date.now()
        const error = failure(yield* Effect.either(sink.write({ events: [metricEvent()], sequence: 0 })))
        expect(error.retryable).toBe(true)
        expect(error.message).toContain("did not answer within 300ms (sink.requestTimeout)")
        expect(Date.now() - started).toBeLessThan(5_000)
      })
    )
  })

  it("wrong credentials: fatal, one sentence of what to fix, no secret in any encoding even when the answer echoes them", async () => {
    await run(
      Effect.gen(function* () {
        const receiver = yield* mixpanelReceiver(receiverOptions())
        const wrong = yield* makeSink(decodeConfig({ serviceAccount: { username: SA_USER, secret: "not-the-secret-at-all" }, projectId: PROJECT_ID, endpoint: receiver.url }))
        const error = failure(yield* Effect.either(wrong.write({ events: [metricEvent()], sequence: 0 })))
        expect(error.retryable).toBe(false)
        expect(error.message).toBe(
          `Mixpanel refused the credentials (HTTP 401 from ${receiver.url}/import?strict=1&project_id=${PROJECT_ID}: {"code":401,"error":"Invalid credentials","status":"Unauthorized"}): check the service account (sink.serviceAccount) and sink.projectId, and that sink.endpoint is the project's region`
        )
        for (const config of [
          { serviceAccount: { username: SA_USER, secret: SA_SECRET }, projectId: PROJECT_ID },
          { projectSecret: PROJECT_TOKEN }
        ]) {
          const proxy = yield* authProxy(receiver)
          proxy.refuseAuth({ echo: true })
          const sink = yield* makeSink(decodeConfig({ ...config, endpoint: proxy.url }))
          const refused = failure(yield* Effect.either(sink.write({ events: [metricEvent()], sequence: 0 })))
          expect(refused.retryable).toBe(false)
          expect(refused.message).toContain("Mixpanel refused the credentials (HTTP 401")
          expect(refused.message).toContain("[redacted]")
          expectNoSecret(refused.message)
          const checked = failure(yield* Effect.either(sink.check!))
          expect(checked.retryable).toBe(false)
          expectNoSecret(checked.message)
          expect(proxy.refused()).toBe(2)
        }
      })
    )
  })

  it("a 400 without failed_records is fatal, not a reason to dead-letter the batch", async () => {
    vi.spyOn(globalThis, "fetch").mockImplementation(async () =>
      new Response(JSON.stringify({ code: 400, error: "unable to parse the request body as JSON", status: "Bad Request" }), { status: 400 })
    )
    await run(
      Effect.gen(function* () {
        const sink = yield* makeSink(decodeConfig({ endpoint: "eu" }))
        const error = failure(yield* Effect.either(sink.write({ events: [metricEvent(), flagEvent()], sequence: 0 })))
        expect(error.retryable).toBe(false)
        expect(error.message).toBe(
          `Mixpanel refused a whole request without naming an event (HTTP 400 from https://api-eu.mixpanel.com/import?strict=1&project_id=${PROJECT_ID}: {"code":400,"error":"unable to parse the request body as JSON","status":"Bad Request"}): check sink.endpoint and any proxy in front of it`
        )
      })
    )
    vi.restoreAllMocks()
  })

  it("sends plain JSON with gzip: false", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ gzip: false })
        yield* sink.write({ events: [metricEvent()], sequence: 0 })
        expect(receiver.requests[0]).toMatchObject({ status: 200, gzip: false })
      })
    )
  })
})

describe("mixpanel sink: regions", () => {
  afterEach(() => vi.restoreAllMocks())

  it.each([
    ["us", "https://api.mixpanel.com"],
    ["eu", "https://api-eu.mixpanel.com"],
    ["in", "https://api-in.mixpanel.com"],
    ["EU", "https://api-eu.mixpanel.com"]
  ])("%s posts to %s/import", async (endpoint, host) => {
    const urls: Array<string> = []
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input) => {
      urls.push(String(input))
      return new Response(JSON.stringify({ code: 200, num_records_imported: 1, status: "OK" }), { status: 200 })
    })
    await run(
      Effect.gen(function* () {
        const sink = yield* makeSink(decodeConfig({ endpoint }))
        yield* sink.write({ events: [metricEvent()], sequence: 0 })
      })
    )
    expect(urls).toEqual([`${host}/import?strict=1&project_id=${PROJECT_ID}`])
  })

  it("defaults to the US host", async () => {
    const urls: Array<string> = []
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input) => {
      urls.push(String(input))
      return new Response("{}", { status: 200 })
    })
    await run(
      Effect.gen(function* () {
        const sink = yield* makeSink(decodeConfig({ projectSecret: PROJECT_TOKEN }))
        yield* sink.write({ events: [metricEvent()], sequence: 0 })
      })
    )
    expect(urls).toEqual(["https://api.mixpanel.com/import?strict=1"])
  })
})

describe("mixpanel sink: check", () => {
  it("authenticates with an empty /import and sends no event", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        const lines = yield* sink.check!
        expect(lines).toEqual([
          `${receiver.url}/import?strict=1&project_id=${PROJECT_ID} accepted an empty /import with the service account (sink.serviceAccount) and sink.projectId (HTTP 200); no event was sent`
        ])
        expect(receiver.requests).toHaveLength(1)
        expect(receiver.requests[0]).toMatchObject({ status: 200, auth: "serviceAccount", count: 0 })
        expect(receiver.events).toEqual([])
      })
    )
  })

  it("fails fatally on wrong credentials and transiently on a 503", async () => {
    await run(
      Effect.gen(function* () {
        const receiver = yield* mixpanelReceiver(receiverOptions())
        const wrong = yield* makeSink(decodeConfig({ projectSecret: "tok_wrong_0000", endpoint: receiver.url }))
        const error = failure(yield* Effect.either(wrong.check!))
        expect(error.retryable).toBe(false)
        expect(error.message).toContain("check sink.projectSecret")
        const sink = yield* makeSink(decodeConfig({ endpoint: receiver.url }))
        receiver.fault({ kind: "503" })
        expect(failure(yield* Effect.either(sink.check!)).retryable).toBe(true)
      })
    )
  })
})
