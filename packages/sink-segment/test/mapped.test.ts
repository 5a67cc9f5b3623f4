import type { ExportEvent, SinkFields } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { SEGMENT_MAPPABLE, SegmentSink, render } from "../src/index.js"
import { decodeConfig, flagEvent, metricEvent, run, setup } from "./support.js"

/** `batch.fields` as the engine builds it: looked up by the event object itself. */
const fieldsOf = (entries: ReadonlyArray<readonly [ExportEvent, SinkFields]>) => {
  const byEvent = new Map(entries)
  return (event: ExportEvent) => byEvent.get(event)
}

const trackOf = (messages: ReadonlyArray<Record<string, unknown>>, id: string) => messages.find((m) => m["type"] === "track" && m["messageId"] === id)

describe("segment sink: mapped fields (sink.map)", () => {
  it("declares event, properties and userId, typed for the compiler", () => {
    expect(SegmentSink.mappable).toBe(SEGMENT_MAPPABLE)
    expect(Object.fromEntries(Object.entries(SegmentSink.mappable!).map(([name, field]) => [name, field.type]))).toEqual({
      event: "string",
      properties: "map",
      userId: "string"
    })
  })

  it("sends the mapped event name, properties (whole) and userId; an event without fields keeps the sink's own", async () => {
    const flag = flagEvent({ id: "e1" })
    const metric = metricEvent({ id: "e2" })
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        const result = yield* sink.write({
          events: [flag, metric],
          sequence: 0,
          fields: fieldsOf([[flag, { event: "Flag Evaluated", properties: { flag: "new-checkout", variation: "var-b" }, userId: "acct-7" }]])
        })
        expect(result.rejected).toEqual([])
        expect(trackOf(receiver.messages, "e1")).toMatchObject({
          userId: "acct-7",
          event: "Flag Evaluated",
          // Replaced wholesale: none of the sink's flag properties are merged in.
          properties: { flag: "new-checkout", variation: "var-b" }
        })
        expect(trackOf(receiver.messages, "e1")!["properties"]).toEqual({ flag: "new-checkout", variation: "var-b" })
        expect(trackOf(receiver.messages, "e2")).toMatchObject({ userId: "user-1", event: "purchase" })
        expect(trackOf(receiver.messages, "e2")!["properties"]).toEqual({
          value: 42.5,
          type: "CustomEvent",
          applicationType: "Javascript",
          envId: "env-1",
          accountId: "acc",
          projectId: "proj",
          route: "/home"
        })
        // The identify follows the userId its track carries: one for the mapped one, one for the user key.
        const identifies = receiver.messages.filter((m) => m["type"] === "identify")
        expect(identifies.map((m) => [m["userId"], (m["traits"] as { name: string }).name])).toEqual([
          ["acct-7", "Ada"],
          ["user-1", "Ada"]
        ])
      })
    )
  })

  it("replaces only the parts mapped: a name alone keeps the sink's properties and userId", async () => {
    const flag = flagEvent({ id: "e1" })
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ identify: false })
        yield* sink.write({ events: [flag], sequence: 0, fields: fieldsOf([[flag, { event: "Flag Evaluated" }]]) })
        const track = trackOf(receiver.messages, "e1")!
        expect(track["event"]).toBe("Flag Evaluated")
        expect(track["userId"]).toBe("user-1")
        expect(track["properties"]).toMatchObject({ flagKey: "new-checkout", variationId: "var-b", envId: "env-1" })
      })
    )
  })

  it("a mapped userId of \"\" sends the track with anonymousId and no identify", async () => {
    const flag = flagEvent({ id: "e1", distinctId: "device-7" })
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        yield* sink.write({ events: [flag], sequence: 0, fields: fieldsOf([[flag, { userId: "" }]]) })
        const track = trackOf(receiver.messages, "e1")!
        expect(track["anonymousId"]).toBe("device-7")
        expect(track).not.toHaveProperty("userId")
        expect(receiver.messageIds("identify")).toEqual([])
      })
    )
  })

  it("identifies a mapped userId once per run, across batches and FeatBit users mapped to it", async () => {
    const a = metricEvent({ id: "e1", user: { keyId: "u1", name: "One" } })
    const b = metricEvent({ id: "e2", user: { keyId: "u2", name: "Two" } })
    const c = metricEvent({ id: "e3", user: { keyId: "u1", name: "One" } })
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        yield* sink.write({ events: [a, b], sequence: 0, fields: fieldsOf([[a, { userId: "acct-1" }], [b, { userId: "acct-1" }]]) })
        yield* sink.write({ events: [c], sequence: 1, fields: fieldsOf([[c, { userId: "acct-1" }]]) })
        expect(receiver.messages.filter((m) => m["type"] === "identify").map((m) => m["userId"])).toEqual(["acct-1"])
        expect(receiver.messages.filter((m) => m["type"] === "track").map((m) => m["userId"])).toEqual(["acct-1", "acct-1", "acct-1"])
      })
    )
  })

  it("counts mapped properties in the request's bytes: requests stay within maxBytesPerRequest (a proxy at that limit never answers 413)", async () => {
    const events = Array.from({ length: 30 }, (_, i) => metricEvent({ id: `e${i}` }))
    // ~3 KB each once mapped, ~450 bytes without: unmapped, all 30 fit one request of 20,000 bytes.
    const fields = fieldsOf(events.map((event, i) => [event, { properties: { note: `${i}:${"x".repeat(3_000)}` } }] as const))
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ identify: false, maxBytesPerRequest: 20_000 }, { maxRequestBytes: 20_000 })
        const result = yield* sink.write({ events, sequence: 0, fields })
        expect(result.rejected).toEqual([])
        const stats = receiver.stats()
        expect(stats.statuses["413"]).toBeUndefined()
        expect(stats.acceptedRequests).toBeGreaterThanOrEqual(Math.ceil((30 * 3_000) / 20_000))
        expect(receiver.messages.map((m) => (m["properties"] as { note: string }).note.split(":")[0])).toEqual(events.map((_, i) => String(i)))
      })
    )
  })

  it("a message the mapping makes larger than 32 KB is rejected unsent, as an oversize message is; the same event unmapped is sent", async () => {
    const big = metricEvent({ id: "big" })
    const small = flagEvent({ id: "small" })
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ identify: false })
        const result = yield* sink.write({ events: [big, small], sequence: 0, fields: fieldsOf([[big, { properties: { blob: "é".repeat(17_000) } }]]) })
        expect(result.rejected.map((r) => r.event)).toEqual([big])
        expect(result.rejected[0]!.reason).toMatch(
          /^its Segment message is \d+ bytes \(with its properties from sink\.map\), over the limit of 32768 bytes per event \(Segment accepts at most 32 KB per event\)$/
        )
        expect(receiver.messageIds()).toEqual(["small"])
        // Nothing about the event itself is too large.
        yield* sink.write({ events: [big], sequence: 1 })
        expect(receiver.messageIds()).toEqual(["small", "big"])
        expect(receiver.stats().statuses["400"]).toBeUndefined()
      })
    )
  })

  it("a retry of the batch resends the mapped message, not the sink's default", async () => {
    const flag = flagEvent({ id: "e1" })
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ identify: false })
        const batch = { events: [flag], sequence: 0, fields: fieldsOf([[flag, { event: "Flag Evaluated" }]]) }
        receiver.enqueueFaults({ kind: "503" })
        expect(Either.isLeft(yield* Effect.either(sink.write(batch)))).toBe(true)
        yield* sink.write(batch)
        expect(receiver.messages.map((m) => m["event"])).toEqual(["Flag Evaluated"])
      })
    )
  })
})

describe("render with mapped fields", () => {
  const config = decodeConfig({})

  it("applies them to the track and names the mapped userId in the identify", () => {
    const out = render(config)(flagEvent(), { event: "Flag Evaluated", properties: { flag: "new-checkout" }, userId: "acct-7" })
    expect(out.map((m) => [m.type, m.userId])).toEqual([
      ["identify", "acct-7"],
      ["track", "acct-7"]
    ])
    expect(out[1]).toMatchObject({ event: "Flag Evaluated", properties: { flag: "new-checkout" } })
    expect(out[1]!.properties).toEqual({ flag: "new-checkout" })
  })

  it("without fields, or with none of its own, renders as before", () => {
    const plain = render(config)(metricEvent())
    expect(render(config)(metricEvent(), {})).toEqual(plain)
    expect(render(config)(metricEvent(), undefined)).toEqual(plain)
    expect(plain[1]).toMatchObject({ userId: "user-1", event: "purchase", properties: { value: 42.5, type: "CustomEvent" } })
  })
})
