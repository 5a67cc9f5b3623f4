import type { SinkError } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { configSecretForms as secretFormsOf } from "@featbit-export/core"
import { AmplitudeSink, EU_BASE, US_BASE, configIssues, render, resolveUrl } from "../src/index.js"
import { API_KEY, decodeConfig, flagEvent, metricEvent, run, sampleEvents, setup } from "./support.js"
import { scripted } from "./scripted.js"

const failure = <A>(result: Either.Either<A, SinkError>): SinkError => {
  if (Either.isRight(result)) throw new Error("it succeeded")
  return result.left
}

const sinkAt = (url: string, options: Record<string, unknown> = {}) =>
  AmplitudeSink.make(decodeConfig({ endpoint: url, throttleWait: "10ms", ...options }), { pipeline: "test", baseDir: "." })

describe("amplitude sink: answers the receiver double does not play", () => {
  it("a 400 that lists only the first refused event each time (the HTTP V2 page's reading): each is refused in turn, the rest delivered", async () => {
    await run(
      Effect.gen(function* () {
        const bad = (e: Record<string, unknown>) => e["user_id"] === "null"
        const server = yield* scripted(({ events }) => {
          const first = events.findIndex(bad)
          return first < 0
            ? { status: 200, body: { code: 200, events_ingested: events.length } }
            : { status: 400, body: { code: 400, error: "Invalid field values on some events", events_with_invalid_fields: { user_id: [first] } } }
        })
        const sink = yield* sinkAt(server.url)
        const events = sampleEvents(40, 30).map((e, i) => (i % 10 === 4 ? { ...e, user: { keyId: "null", name: "" } } : e))
        const result = yield* sink.write({ events, sequence: 0 })
        expect(result.rejected.map((r) => r.event.id)).toEqual(events.filter((_, i) => i % 10 === 4).map((e) => e.id))
        expect(server.bodies.length).toBe(5)
        expect(server.bodies.at(-1)!.events.length).toBe(36)
      })
    )
  })

  it("a 400 for silenced devices dead-letters the silenced events and waits on the throttled ones", async () => {
    await run(
      Effect.gen(function* () {
        const server = yield* scripted(({ events }, n) =>
          n === 0
            ? { status: 400, body: { code: 400, error: "Events silenced for device_id", silenced_events: [1], throttled_events: [], silenced_devices: ["d"] } }
            : n === 1
              ? { status: 400, body: { code: 400, error: "Events silenced for device_id", silenced_events: [], throttled_events: [0], throttled_devices: { d: 100 } } }
              : { status: 200, body: { code: 200, events_ingested: events.length } }
        )
        const sink = yield* sinkAt(server.url, { throttleWait: "2s" })
        const events = sampleEvents(3, 31)
        const error = failure(yield* Effect.either(sink.write({ events, sequence: 0 })))
        expect(error.retryable).toBe(true)
        expect(error.retryAfter).toBeDefined()
        const result = yield* sink.write({ events, sequence: 0 })
        expect(result.rejected.map((r) => r.event.id)).toEqual([events[1]!.id])
        expect(result.rejected[0]!.reason).toContain("silenced")
        expect(server.bodies.map((b) => b.events.length)).toEqual([3, 2, 2])
      })
    )
  })

  it("a 400 listing no event is the endpoint's problem: fatal, quoted with the key scrubbed", async () => {
    await run(
      Effect.gen(function* () {
        const server = yield* scripted(() => ({ status: 400, body: { code: 400, error: `Invalid request path; echo ${API_KEY} ${Buffer.from(API_KEY).toString("base64")}` } }))
        const sink = yield* sinkAt(server.url)
        const error = failure(yield* Effect.either(sink.write({ events: sampleEvents(5, 32), sequence: 0 })))
        expect(error.retryable).toBe(false)
        expect(error.message).toContain("the refusal is the endpoint's")
        for (const form of secretFormsOf(decodeConfig({}))) expect(error.message).not.toContain(form)
      })
    )
  })

  for (const [status, words] of [
    [403, "firewall"],
    [404, "check sink.endpoint and sink.api"]
  ] as const) {
    it(`HTTP ${status} is fatal and says what to check`, async () => {
      await run(
        Effect.gen(function* () {
          const server = yield* scripted(() => ({ status, body: { code: status, error: "Forbidden" } }))
          const sink = yield* sinkAt(server.url)
          const error = failure(yield* Effect.either(sink.write({ events: sampleEvents(5, 33), sequence: 0 })))
          expect(error.retryable).toBe(false)
          expect(error.message).toContain(words)
        })
      )
    })
  }

  it("a 503 with Retry-After is transient with that wait", async () => {
    await run(
      Effect.gen(function* () {
        const server = yield* scripted(() => ({ status: 503, body: { code: 503 }, headers: { "retry-after": "3" } }))
        const sink = yield* sinkAt(server.url)
        const error = failure(yield* Effect.either(sink.write({ events: sampleEvents(5, 34), sequence: 0 })))
        expect(error.retryable).toBe(true)
        expect(error.retryAfter).toBeDefined()
      })
    )
  })
})

describe("amplitude sink: check", () => {
  it("proves the key with a request of no event: nothing ingested", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        const said = yield* sink.check!
        expect(said[0]).toContain("took the configured API key")
        expect(receiver.stats().stored).toBe(0)
        expect(receiver.requests.map((r) => r.events)).toEqual([0])
      })
    )
  })

  it("a wrong key: fatal, with no form of the key", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        receiver.setApiKey("another-key")
        const error = failure(yield* Effect.either(sink.check!))
        expect(error.retryable).toBe(false)
        expect(error.message).toContain("check sink.apiKey")
        for (const form of secretFormsOf(decodeConfig({}))) expect(`${error.message} ${JSON.stringify(error)}`).not.toContain(form)
      })
    )
  })
})

describe("amplitude sink: regions and configuration", () => {
  it("us and eu resolve to Amplitude's documented URLs", () => {
    expect(resolveUrl(decodeConfig({}))).toBe("https://api2.amplitude.com/2/httpapi")
    expect(resolveUrl(decodeConfig({ endpoint: "us" }))).toBe("https://api2.amplitude.com/2/httpapi")
    expect(resolveUrl(decodeConfig({ endpoint: "eu" }))).toBe("https://api.eu.amplitude.com/2/httpapi")
    expect(resolveUrl(decodeConfig({ endpoint: "US", api: "batch" }))).toBe("https://api2.amplitude.com/batch")
    expect(resolveUrl(decodeConfig({ endpoint: "eu", api: "batch" }))).toBe("https://api.eu.amplitude.com/batch")
    expect(resolveUrl(decodeConfig({ endpoint: "https://proxy.example:8443/amp/" }))).toBe("https://proxy.example:8443/amp/2/httpapi")
    expect([US_BASE, EU_BASE]).toEqual(["https://api2.amplitude.com", "https://api.eu.amplitude.com"])
  })

  it("configIssues: endpoint mistakes and an HTTP V2 byte limit over 1 MB", () => {
    expect(configIssues(decodeConfig({}))).toEqual([])
    expect(configIssues(decodeConfig({ endpoint: "eu", api: "batch", maxBytesPerRequest: 10_000_000 }))).toEqual([])
    const messages = (input: Record<string, unknown>) => configIssues(decodeConfig(input)).map((i) => `${i.path.join(".")}: ${i.message}`)
    expect(messages({ endpoint: "api2.amplitude.com" })[0]).toContain("endpoint: endpoint must be \"us\", \"eu\" or a base URL")
    expect(messages({ endpoint: "ftp://x.example" })[0]).toContain("not ftp://")
    const withPassword = messages({ endpoint: "https://u:hunter22@x.example" })[0]!
    expect(withPassword).toContain("remove the user and password")
    expect(withPassword).not.toContain("hunter22")
    expect(messages({ endpoint: "https://x.example/2/httpapi" })[0]).toContain("remove /2/httpapi or /batch")
    expect(messages({ endpoint: "https://x.example/?a=1" })[0]).toContain("?query")
    expect(messages({ maxBytesPerRequest: 2_000_000 })).toEqual([
      "maxBytesPerRequest: maxBytesPerRequest is 2000000, over HTTP V2's 1000000 bytes per request: lower it, or set api: batch (20 MB)"
    ])
    expect(() => decodeConfig({ maxEventsPerRequest: 2_001 })).toThrow()
    expect(() => decodeConfig({ api: "v1" })).toThrow()
  })

  it("the plugin declares its mappable fields and type", () => {
    expect(AmplitudeSink.type).toBe("amplitude")
    expect(Object.keys(AmplitudeSink.mappable!)).toEqual(["event_type", "event_properties", "user_properties", "user_id"])
  })
})

describe("amplitude sink: render (preview)", () => {
  it("renders a flag evaluation as $exposure with flag_key and variant (the variation id when not enriched)", () => {
    const out = render(decodeConfig({}))(flagEvent())
    expect(out).toEqual({
      user_id: "u1",
      event_type: "$exposure",
      time: Date.parse("2024-03-05T10:11:12.123Z"),
      insert_id: "0b7a3c1e-0000-4000-8000-000000000001",
      event_properties: {
        flag_key: "new-checkout",
        variant: "var-b",
        flag_id: "flag-id-1",
        variation_id: "var-b",
        send_to_experiment: false,
        env_id: "env-1",
        account_id: "acc",
        project_id: "proj",
        route: "/home"
      },
      user_properties: { name: "Ada" }
    })
  })

  it("a configured flag event name, a JSON variation value, a metric, no user properties", () => {
    const config = decodeConfig({ flagEventType: "Flag Evaluated", userProperties: false })
    const flag = render(config)(flagEvent({ variationValue: { plan: "pro" } }))
    expect(flag.event_type).toBe("Flag Evaluated")
    expect(flag.event_properties["variant"]).toBe('{"plan":"pro"}')
    expect(flag.user_properties).toBeUndefined()
    const metric = render(config)(metricEvent())
    expect(metric).toMatchObject({ event_type: "purchase", event_properties: { value: 42.5, type: "CustomEvent", application_type: "Javascript" } })
  })

  it("an event without a user key goes with a device_id; mapped fields replace the sink's", () => {
    const config = decodeConfig({})
    expect(render(config)(flagEvent({ user: { keyId: "", name: "" } }))).toMatchObject({ device_id: "d-1" })
    expect(render(config)(flagEvent({ user: { keyId: "", name: "" } }))).not.toHaveProperty("user_id")
    const mapped = render(config)(flagEvent(), { event_type: "Exposure", event_properties: { a: 1 }, user_properties: { plan: "pro" }, user_id: "acct-7", ignored: 3 })
    expect(mapped).toMatchObject({ event_type: "Exposure", event_properties: { a: 1 }, user_properties: { plan: "pro" }, user_id: "acct-7" })
    expect(render(config)(flagEvent(), { event_type: 5 }).event_type).toBe("$exposure")
  })
})
