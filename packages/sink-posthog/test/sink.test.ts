import * as http from "node:http"
import { gunzipSync } from "node:zlib"
import { type SinkError } from "@featbit-export/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as JSONSchema from "effect/JSONSchema"
import * as Schema from "effect/Schema"
import { afterEach, describe, expect, it, vi } from "vitest"
import { answerSecretForms as secretFormsOf, parseRetryAfter } from "@featbit-export/core"
import { EU_HOST, POSTHOG_LIMITS, PostHogSink, PostHogSinkConfig, US_HOST, resolveHost } from "../src/index.js"
import { API_KEY, decodeConfig, failure, flagEvent, makeSink, metricEvent, run, sampleEvents, setup } from "./support.js"

describe("posthog sink: throttling and transient failures", () => {
  it("429 with Retry-After fails transient with that wait; the retry sends the batch and it is stored once", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        receiver.fault({ kind: "429", reason: "rate", retryAfter: "7" })
        const error = failure(yield* Effect.either(sink.write({ events: [flagEvent()], sequence: 0 })))
        expect(error.retryable).toBe(true)
        expect(error.retryAfter).toEqual(Duration.seconds(7))
        expect(error.message).toBe(`PostHog is rate limiting (HTTP 429 from ${receiver.url}/batch/: rate limited)`)
        expect((yield* sink.write({ events: [flagEvent()], sequence: 0 })).rejected).toEqual([])
        expect(receiver.rows.map((row) => row.uuid)).toEqual([flagEvent().id])
      })
    )
  })

  it("429 without Retry-After (PostHog sets none) fails transient with no wait, leaving the engine's backoff; the billing limit is named", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        receiver.fault({ kind: "429" })
        const error = failure(yield* Effect.either(sink.write({ events: [flagEvent()], sequence: 0 })))
        expect(error.retryable).toBe(true)
        expect(error.retryAfter).toBeUndefined()
        expect(error.message).toBe(`PostHog's billing limit for this project is reached (HTTP 429 from ${receiver.url}/batch/: billing limit reached)`)
      })
    )
  })

  it("reads Retry-After as seconds or an HTTP date", () => {
    const now = Date.parse("2024-06-01T00:00:00Z")
    expect(parseRetryAfter("1.5", now)).toEqual(Duration.millis(1500))
    expect(parseRetryAfter("Sat, 01 Jun 2024 00:00:30 GMT", now)).toEqual(Duration.millis(30_000))
    expect(parseRetryAfter(null, now)).toBeUndefined()
    expect(parseRetryAfter("soon", now)).toBeUndefined()
  })

  it("a retried batch resends only the requests that were not acknowledged", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ maxEventsPerRequest: 100, concurrency: 1 })
        const events = sampleEvents(400, 40)
        receiver.fault({ kind: "503" })
        const error = failure(yield* Effect.either(sink.write({ events, sequence: 3 })))
        expect(error.retryable).toBe(true)
        expect(error.message).toContain("PostHog answered HTTP 503")
        const before = receiver.stats().requests
        yield* sink.write({ events, sequence: 3 })
        expect(receiver.stats().requests - before).toBe(1)
        expect(receiver.stats().duplicates).toBe(0)
        expect(receiver.stats().mergedRows).toBe(400)
      })
    )
  })

  it("a request the endpoint never answers fails transient after requestTimeout, and is aborted", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ requestTimeout: "300ms" })
        receiver.fault({ kind: "hang" })
        const started = Date.now()
        const error = failure(yield* Effect.either(sink.write({ events: [flagEvent()], sequence: 0 })))
        expect(Date.now() - started).toBeLessThan(3_000)
        expect(error.retryable).toBe(true)
        expect(error.message).toMatch(new RegExp(`^${receiver.url}/batch/ did not answer within 300ms? ?(millis)? \\(sink\\.requestTimeout\\)$`))
      })
    )
  })

  it("a connection reset is transient", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        receiver.fault({ kind: "reset" })
        const error = failure(yield* Effect.either(sink.write({ events: [flagEvent()], sequence: 0 })))
        expect(error.retryable).toBe(true)
        expect(error.message).toContain(`the request to ${receiver.url}/batch/ failed`)
      })
    )
  })
})

/** A server answering 401 with a body that echoes the key in several encodings. */
const echoing = (key: string) =>
  Effect.acquireRelease(
    Effect.promise(
      () =>
        new Promise<{ url: string; server: http.Server }>((resolve) => {
          const server = http.createServer((req, res) => {
            req.resume()
            req.on("end", () => {
              res.writeHead(401, { "content-type": "text/plain" })
              res.end(
                `API key is not valid: ${key} ${JSON.stringify(key)} ${encodeURIComponent(key)} ${Buffer.from(key).toString("base64")} ${Buffer.from(key).toString("base64url")}`
              )
            })
          })
          server.listen(0, "127.0.0.1", () => resolve({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server }))
        })
    ),
    ({ server }) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
  )

describe("posthog sink: a wrong API key", () => {
  it("is fatal with one sentence that says what to fix", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        receiver.setApiKey("phc_anotherProject")
        const error = failure(yield* Effect.either(sink.write({ events: [flagEvent()], sequence: 0 })))
        expect(error.retryable).toBe(false)
        expect(error.message).toBe(
          `PostHog refused the API key (HTTP 401 from ${receiver.url}/batch/: api_key does not resolve to a known project): check sink.apiKey, it must be the project API key (phc_...) of a project on this host, not a personal API key`
        )
        expect(receiver.rows).toEqual([])
      })
    )
  })

  it("the 403 of a newer capture is fatal too", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({}, { errorFormat: "json" })
        receiver.setApiKey("phc_anotherProject")
        const error = failure(yield* Effect.either(sink.write({ events: [flagEvent()], sequence: 0 })))
        expect(error.retryable).toBe(false)
        expect(error.message).toContain("PostHog refused the API key (HTTP 403")
      })
    )
  })

  it("never quotes the key, in any encoding, from an answer that echoes it", async () => {
    const key = 'phc_se/cr+et"k=ey&1234567890'
    await run(
      Effect.gen(function* () {
        const server = yield* echoing(key)
        const sink = yield* makeSink({ host: server.url, apiKey: key })
        const error = failure(yield* Effect.either(sink.write({ events: [flagEvent()], sequence: 0 })))
        const checked = failure(yield* Effect.either(sink.check!))
        const forms = secretFormsOf([key])
        expect(forms.length).toBeGreaterThanOrEqual(5)
        for (const found of [error, checked]) {
          expect(found.retryable).toBe(false)
          expect(found.message).toContain("API key is not valid: [redacted]")
          const text = `${found.message} ${JSON.stringify(found)} ${String(found)}`
          for (const form of forms) expect(text).not.toContain(form)
        }
      })
    )
  })
})

describe("posthog sink: request and byte limits", () => {
  it("plans requests under the count limit and a small byte limit the receiver enforces: no 413", async () => {
    for (const gzip of [false, true]) {
      await run(
        Effect.gen(function* () {
          const { receiver, sink } = yield* setup({ maxEventsPerRequest: 150, maxBytesPerRequest: 64 * 1024, gzip }, { maxBatchBodyBytes: 64 * 1024 })
          const events = sampleEvents(3_000, 41)
          expect((yield* sink.write({ events, sequence: 0 })).rejected).toEqual([])
          const stats = receiver.stats()
          expect(stats.statuses["413"] ?? 0).toBe(0)
          expect(stats.statuses["400"] ?? 0).toBe(0)
          expect(stats.mergedRows).toBe(3_000)
          for (const request of receiver.requests) {
            expect(request.events).toBeLessThanOrEqual(150)
            expect(request.gzip).toBe(gzip)
            expect(request.contentEncoding).toBe(gzip ? "gzip" : undefined)
          }
          expect(receiver.requests.length).toBeGreaterThan(3_000 / 150)
        })
      )
    }
  })

  it("fills requests up to PostHog's 20 MiB and never over it", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ maxEventsPerRequest: 100_000, maxBytesPerRequest: POSTHOG_LIMITS.maxBytesPerRequest, gzip: false })
        const events = sampleEvents(25_000, 42)
        const padding = "p".repeat(1_000)
        const result = yield* sink.write({ events, sequence: 0, fields: (event) => ({ properties: { id: event.id, padding } }) })
        expect(result.rejected).toEqual([])
        const stats = receiver.stats()
        expect(stats.statuses["413"] ?? 0).toBe(0)
        expect(stats.mergedRows).toBe(25_000)
        expect(receiver.requests.length).toBe(2)
        for (const request of receiver.requests) expect(request.bytes).toBeLessThanOrEqual(POSTHOG_LIMITS.maxBytesPerRequest)
        expect(Math.max(...receiver.requests.map((request) => request.bytes))).toBeGreaterThan(POSTHOG_LIMITS.maxBytesPerRequest - 2_000)
      })
    )
  }, 60_000)

  it("refuses a maxBytesPerRequest over 20 MiB in the configuration", () => {
    expect(() => decodeConfig({ maxBytesPerRequest: POSTHOG_LIMITS.maxBytesPerRequest + 1 })).toThrow()
    expect(decodeConfig({}).maxBytesPerRequest).toBe(5 * 1024 * 1024)
  })
})

describe("posthog sink: what arrives", () => {
  it("keeps FeatBit's microsecond timestamp, the FeatBit id as uuid and the user key as distinct_id, without sent_at", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        yield* sink.write({ events: [flagEvent(), metricEvent()], sequence: 0 })
        const [flag, metric] = receiver.rows
        expect(flag).toMatchObject({ event: "$feature_flag_called", uuid: flagEvent().id, distinctId: "user-1", timestamp: "2024-03-05T10:11:12.123456Z", timestampSource: "timestamp", historicalMigration: false })
        expect(metric).toMatchObject({ event: "purchase", uuid: metricEvent().id, distinctId: "user-1" })
        expect(receiver.requests[0]!.sentAt).toBeUndefined()
        expect(receiver.requests[0]!.historicalMigration).toBeUndefined()
      })
    )
  })

  it("sends historical_migration: true when configured", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ historicalMigration: true })
        yield* sink.write({ events: [flagEvent(), metricEvent()], sequence: 0 })
        expect(receiver.stats().historicalRequests).toBe(1)
        expect(receiver.stats().historicalRows).toBe(2)
      })
    )
  })
})

describe("posthog sink: hosts", () => {
  afterEach(() => vi.unstubAllGlobals())

  it("us and eu resolve to PostHog's ingestion hosts, a self-hosted URL to itself", () => {
    expect(US_HOST).toBe("https://us.i.posthog.com")
    expect(EU_HOST).toBe("https://eu.i.posthog.com")
    expect(resolveHost("us")).toBe(US_HOST)
    expect(resolveHost("EU")).toBe(EU_HOST)
    expect(resolveHost("https://posthog.example.com/")).toBe("https://posthog.example.com")
    expect(decodeConfig({}).host).toBe("us")
  })

  it("posts to <host>/batch/ of the region with api_key in the body", async () => {
    const seen: Array<{ url: string; body: string }> = []
    vi.stubGlobal("fetch", async (input: string, init: RequestInit) => {
      seen.push({ url: String(input), body: gunzipSync(init.body as Buffer).toString() })
      return new Response('{"status":1}', { status: 200 })
    })
    await run(
      Effect.gen(function* () {
        for (const host of ["us", "eu", "https://ph.example.com"]) {
          const sink = yield* makeSink({ host })
          yield* sink.write({ events: [flagEvent()], sequence: 0 })
        }
      })
    )
    expect(seen.map((s) => s.url)).toEqual(["https://us.i.posthog.com/batch/", "https://eu.i.posthog.com/batch/", "https://ph.example.com/batch/"])
    expect(JSON.parse(seen[0]!.body).api_key).toBe(API_KEY)
  })

  it("configIssues accepts us, eu and base URLs, and says what to fix otherwise", () => {
    const issues = (host: string) => PostHogSink.configIssues!(decodeConfig({ host }))
    expect(issues("us")).toEqual([])
    expect(issues("eu")).toEqual([])
    expect(issues("https://posthog.example.com")).toEqual([])
    expect(issues("posthog.example.com")[0]!.message).toContain("it has no scheme")
    expect(issues("ftp://posthog.example.com")[0]!.message).toContain("fix the scheme")
    expect(issues("https://user:pw@posthog.example.com")[0]).toMatchObject({ path: ["host"] })
    expect(issues("https://user:pw@posthog.example.com")[0]!.message).not.toContain("pw")
    expect(issues("https://posthog.example.com/?x=1")[0]!.message).toContain("remove its ?query")
    expect(issues("https://eu.posthog.com")[0]!.message).toContain("not its ingestion")
  })

  it("the config schema documents every key and redacts the key", () => {
    const config = decodeConfig({})
    expect(String(config.apiKey)).not.toContain(API_KEY)
    const schema = JSONSchema.make(Schema.encodedSchema(PostHogSinkConfig)) as { properties: Record<string, { description?: string }> }
    const documented = JSONSchema.make(PostHogSinkConfig) as { properties: Record<string, { description?: string }> }
    expect(Object.keys(schema.properties).length).toBe(Object.keys(PostHogSinkConfig.fields).length)
    for (const name of Object.keys(PostHogSinkConfig.fields)) expect(documented.properties[name]?.description ?? "", name).not.toBe("")
  })
})

describe("posthog sink: check", () => {
  it("confirms the endpoint and key without storing anything", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        const lines = yield* sink.check!
        expect(lines).toEqual([
          `${receiver.url}/batch/ is a PostHog capture endpoint that accepted the configured API key (HTTP 400 to a probe event without a name, which it does not store)`
        ])
        expect(receiver.stats().requests).toBe(1)
        expect(receiver.stats().rawRows).toBe(0)
      })
    )
  })

  it("works against a newer capture's JSON errors", async () => {
    await run(
      Effect.gen(function* () {
        const { sink } = yield* setup({}, { errorFormat: "json" })
        expect((yield* sink.check!).length).toBe(1)
      })
    )
  })

  it("fails fatal on a wrong key and transient on a 503", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        receiver.fault({ kind: "503" })
        const busy: SinkError = failure(yield* Effect.either(sink.check!))
        expect(busy.retryable).toBe(true)
        receiver.setApiKey("phc_other")
        const wrong = failure(yield* Effect.either(sink.check!))
        expect(wrong.retryable).toBe(false)
        expect(wrong.message).toContain("check sink.apiKey")
      })
    )
  })
})
