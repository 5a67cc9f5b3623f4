import { type SinkError, Timestamp, decodeFeatBitRow } from "@featbit-export/core"
import { makeMemorySource, makeTestStores, runOnce } from "@featbit-export/testkit"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { configSecretForms as secretFormsOf } from "@featbit-export/core"
import { AMPLITUDE_LIMITS, refusedIndexes } from "../src/index.js"
import { API_KEY, decodeConfig, flagEvent, insertIds, metricEvent, recentRows, run, sampleEvents, setup } from "./support.js"

const failure = <A>(result: Either.Either<A, SinkError>): SinkError => {
  if (Either.isRight(result)) throw new Error("the write succeeded")
  return result.left
}

describe("amplitude sink: what is sent", () => {
  it("posts HTTP V2 events with insert_id = FeatBit id, user_id = user key, time in ms, min_id_length 1", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        const flag = flagEvent({ variationValue: true, flagName: "New checkout", variationName: "on" })
        const metric = metricEvent()
        const result = yield* sink.write({ events: [flag, metric], sequence: 0 })
        expect(result.rejected).toEqual([])
        expect(receiver.requests.map((r) => [r.path, r.status])).toEqual([["/2/httpapi", 200]])
        expect(receiver.requests[0]!.options).toEqual({ min_id_length: 1 })
        const [a, b] = receiver.events
        const ms = Date.parse("2024-03-05T10:11:12.123Z")
        expect(a).toEqual({
          user_id: "u1",
          event_type: "$exposure",
          time: ms,
          insert_id: flag.id,
          event_properties: {
            flag_key: "new-checkout",
            variant: "true",
            flag_name: "New checkout",
            flag_id: "flag-id-1",
            variation_id: "var-b",
            variation_value: true,
            variation_name: "on",
            send_to_experiment: false,
            env_id: "env-1",
            account_id: "acc",
            project_id: "proj",
            route: "/home"
          },
          user_properties: { name: "Ada" }
        })
        expect(b).toMatchObject({ user_id: "u1", event_type: "purchase", time: ms, insert_id: metric.id, event_properties: { value: 42.5, type: "CustomEvent" } })
      })
    )
  })

  it("a short user key is delivered only because of min_id_length: 1 (the receiver's default is 5)", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        const result = yield* sink.write({ events: [flagEvent({ user: { keyId: "ab", name: "" } })], sequence: 0 })
        expect(result.rejected).toEqual([])
        expect(receiver.events.map((e) => e["user_id"])).toEqual(["ab"])
        expect(receiver.events[0]!["user_properties"]).toBeUndefined()
      })
    )
  })

  it("uses /batch with api: batch", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ api: "batch" })
        yield* sink.write({ events: sampleEvents(20, 3), sequence: 0 })
        expect(receiver.requests.map((r) => r.path)).toEqual(["/batch"])
        expect(receiver.events.length).toBe(20)
      })
    )
  })

  it("the time of generated rows is their microsecond timestamp cut to ms", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        const events = sampleEvents(50, 4)
        yield* sink.write({ events, sequence: 0 })
        const byId = new Map(receiver.events.map((e) => [e["insert_id"], e["time"]]))
        for (const e of events) expect(byId.get(e.id)).toBe(Number(Timestamp.toMicros(e.timestamp) / 1000n))
      })
    )
  })
})

describe("amplitude sink: per-event refusals", () => {
  for (const ingestValidOn400 of [true, false]) {
    it(`dead-letters exactly the listed events with Amplitude's reason and delivers the others (ingestValidOn400: ${ingestValidOn400})`, async () => {
      await run(
        Effect.gen(function* () {
          const { receiver, sink } = yield* setup({}, { ingestValidOn400 })
          const events = sampleEvents(300, 5).map((e, i) => (i % 50 === 7 ? { ...e, user: { keyId: i % 100 === 7 ? "null" : "anonymous", name: "x" } } : e))
          const bad = events.filter((_, i) => i % 50 === 7).map((e) => e.id)
          const result = yield* sink.write({ events, sequence: 0 })
          expect(result.rejected.map((r) => r.event.id).sort()).toEqual([...bad].sort())
          for (const r of result.rejected) expect(r.reason).toBe('Amplitude refused the event (HTTP 400 "Invalid field values on some events"): user_id invalid')
          expect(new Set(insertIds(receiver))).toEqual(new Set(events.filter((e) => !bad.includes(e.id)).map((e) => e.id)))
          expect(receiver.requests.filter((r) => r.status === 400).length).toBe(1)
        })
      )
    })
  }

  it("through the engine: refused rows go to the dead letters with the reason, the rest is exported", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        // The user key of a few rows becomes "undefined", which Amplitude refuses as a user_id.
        const rows = recentRows(500, 6).map((row, i) => {
          if (i % 100 !== 3) return row
          const key = Either.getOrThrow(decodeFeatBitRow(row)).user.keyId
          return { ...row, properties: String(row.properties).split(JSON.stringify(key)).join('"undefined"') }
        })
        const stores = makeTestStores()
        const summary = yield* runOnce(makeMemorySource(rows), sink, stores, { batchSize: 100 })
        const bad = rows.filter((_, i) => i % 100 === 3).map((r) => r.id)
        expect(stores.deadLetters.map((d) => d.id).sort()).toEqual([...bad].sort())
        expect(stores.deadLetters.every((d) => d.stage === "sink" && d.reason.includes("user_id invalid"))).toBe(true)
        expect(summary.exported).toBe(rows.length - bad.length)
        expect(new Set(insertIds(receiver))).toEqual(new Set(rows.filter((r) => !bad.includes(r.id)).map((r) => r.id)))
      })
    )
  })

  it("reads every index map of a 400 (invalid, missing, id lengths, silenced), in range only", () => {
    const body = {
      code: 400,
      error: "Events silenced for device_id",
      events_with_invalid_fields: { time: [3, 4] },
      events_with_missing_fields: { event_type: [4] },
      events_with_invalid_id_lengths: { user_id: [1] },
      silenced_events: [5, 99],
      throttled_events: [0]
    }
    const refused = refusedIndexes(body, 6)
    expect([...refused.keys()].sort()).toEqual([1, 3, 4, 5])
    expect(refused.get(4)).toEqual(["time invalid", "event_type missing"])
    expect(refused.get(5)![0]).toContain("silenced")
  })

  it("an event larger than a request may be is dead-lettered before sending", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ maxBytesPerRequest: 10_000 })
        const events = sampleEvents(5, 8)
        const big = events[2]!
        const result = yield* sink.write({
          events,
          sequence: 0,
          fields: (e) => (e.id === big.id ? { event_properties: { blob: "x".repeat(20_000) } } : undefined)
        })
        expect(result.rejected.map((r) => r.event.id)).toEqual([big.id])
        expect(result.rejected[0]!.reason).toContain("with its event_properties from sink.map")
        expect(insertIds(receiver).length).toBe(4)
      })
    )
  })
})

describe("amplitude sink: throttling and failures", () => {
  it("429 without Retry-After waits throttleWait (30s by default), then delivers on the retry", async () => {
    expect(Duration.toMillis(decodeConfig({}).throttleWait)).toBe(30_000)
    expect(Duration.toMillis(AMPLITUDE_LIMITS.throttleWait)).toBe(30_000)
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ throttleWait: "1234ms" })
        receiver.fault({ kind: "429" })
        const events = sampleEvents(10, 9)
        const error = failure(yield* Effect.either(sink.write({ events, sequence: 0 })))
        expect(error.retryable).toBe(true)
        expect(Duration.toMillis(error.retryAfter!)).toBe(1234)
        expect(error.message).toContain("HTTP 429")
        expect(error.message).toContain("Amplitude sent no Retry-After")
        yield* sink.write({ events, sequence: 0 })
        expect(new Set(insertIds(receiver))).toEqual(new Set(events.map((e) => e.id)))
      })
    )
  })

  it("429 with Retry-After waits what it says", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        receiver.fault({ kind: "429", retryAfter: "7" })
        const error = failure(yield* Effect.either(sink.write({ events: sampleEvents(10, 10), sequence: 0 })))
        expect(error.retryable).toBe(true)
        expect(Duration.toMillis(error.retryAfter!)).toBe(7_000)
      })
    )
  })

  it("a 429 for the daily quota says so", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        receiver.fault({ kind: "429", dailyQuota: true })
        const error = failure(yield* Effect.either(sink.write({ events: sampleEvents(10, 11), sequence: 0 })))
        expect(error.retryable).toBe(true)
        expect(error.message).toContain("daily quota")
      })
    )
  })

  it("a wrong key is fatal, says what to fix, and carries no form of the key", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        receiver.setApiKey("the-right-key")
        const error = failure(yield* Effect.either(sink.write({ events: sampleEvents(10, 12), sequence: 0 })))
        expect(error.retryable).toBe(false)
        expect(error.message).toContain("check sink.apiKey")
        // The receiver echoes the key it was sent ("Invalid API key: <key>").
        const forms = secretFormsOf(decodeConfig({}))
        expect(forms).toContain(API_KEY)
        expect(forms.length).toBeGreaterThanOrEqual(4)
        const text = `${error.message} ${JSON.stringify(error)} ${String(error)}`
        for (const form of forms) expect(text).not.toContain(form)
        // Every write after it fails with it, sending nothing more.
        const before = receiver.requests.length
        expect(failure(yield* Effect.either(sink.write({ events: sampleEvents(5, 13), sequence: 1 }))).retryable).toBe(false)
        expect(receiver.requests.length).toBe(before)
      })
    )
  })

  it("a request that hangs fails within requestTimeout and is retried", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ requestTimeout: "200ms" })
        receiver.fault({ kind: "hang" })
        const started = Date.now()
        const error = failure(yield* Effect.either(sink.write({ events: sampleEvents(10, 14), sequence: 0 })))
        expect(Date.now() - started).toBeLessThan(2_000)
        expect(error.retryable).toBe(true)
        expect(error.message).toContain("did not answer within")
      })
    )
  })

  it("a retry sends only the requests not acknowledged", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ maxEventsPerRequest: 10, concurrency: 1 })
        const events = sampleEvents(30, 15)
        receiver.fault({ kind: "503" })
        failure(yield* Effect.either(sink.write({ events, sequence: 0 })))
        const first = receiver.requests.length
        yield* sink.write({ events, sequence: 0 })
        expect(receiver.requests.length - first).toBe(1)
        expect(new Set(insertIds(receiver))).toEqual(new Set(events.map((e) => e.id)))
      })
    )
  })
})

describe("amplitude sink: request limits", () => {
  it("keeps every request within 2,000 events and 1 MB: no 413 from a receiver with Amplitude's limits", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ maxEventsPerRequest: 2_000 })
        const events = sampleEvents(6_000, 16)
        const result = yield* sink.write({ events, sequence: 0, fields: (e) => (e.id.endsWith("1") ? { event_properties: { pad: "p".repeat(900) } } : undefined) })
        expect(result.rejected).toEqual([])
        expect(receiver.stats().statuses["413"] ?? 0).toBe(0)
        for (const r of receiver.requests) {
          expect(r.events).toBeLessThanOrEqual(2_000)
          expect(r.bytes).toBeLessThanOrEqual(1_000_000)
        }
        expect(receiver.requests.some((r) => r.bytes > 700_000)).toBe(true)
        expect(new Set(insertIds(receiver))).toEqual(new Set(events.map((e) => e.id)))
      })
    )
  })

  it("a receiver with smaller limits than the sink's answers 413: the sink halves the request and delivers everything", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({}, { limits: { maxEvents: 100, httpApiBytes: 40_000 } })
        const events = sampleEvents(500, 17)
        const result = yield* sink.write({ events, sequence: 0 })
        expect(result.rejected).toEqual([])
        expect(receiver.stats().statuses["413"]).toBeGreaterThan(0)
        expect(new Set(insertIds(receiver))).toEqual(new Set(events.map((e) => e.id)))
      })
    )
  })
})
