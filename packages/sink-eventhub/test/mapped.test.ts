import type { ExportEvent, SinkFields } from "@featbit-export/core"
import type { EventHubReceivedEvent } from "@featbit-export/testkit"
import * as Effect from "effect/Effect"
import { describe, expect, it } from "vitest"
import { EVENTHUB_MAPPABLE, EventHubSink, render } from "../src/index.js"
import { run, sampleEvents, sdkMapper, setup } from "./support.js"

/** `batch.fields` as the engine builds it: looked up by the event object itself. */
const fieldsOf = (entries: ReadonlyArray<readonly [ExportEvent, SinkFields]>) => {
  const byEvent = new Map(entries)
  return (event: ExportEvent) => byEvent.get(event)
}

const bodyOf = (r: EventHubReceivedEvent): unknown => JSON.parse(r.body.toString("utf8"))

describe("eventhub sink: mapped fields (sink.map)", () => {
  it("declares partitionKey and body, typed for the compiler", () => {
    expect(EventHubSink.mappable).toBe(EVENTHUB_MAPPABLE)
    expect(Object.fromEntries(Object.entries(EventHubSink.mappable!).map(([name, field]) => [name, field.type]))).toEqual({ partitionKey: "string", body: "dyn" })
  })

  it("a mapped partitionKey goes through the per-partition grouping: the SDK's partition for it, in cursor order, one send per partition, across pages written at once", async () => {
    const sdk = await sdkMapper()
    const pages = [sampleEvents(600, 61), sampleEvents(600, 62)]
    // Every tenth event keeps the sink's own key (the user); the others get one of five account keys.
    const keyOf = new Map<ExportEvent, string>()
    for (const page of pages) page.forEach((event, i) => i % 10 !== 0 && keyOf.set(event, `acct-${i % 5}`))
    const fields = fieldsOf([...keyOf].map(([event, key]) => [event, { partitionKey: key }] as const))
    await run(
      Effect.gen(function* () {
        // Settling 5 ms after arrival makes the two pages overlap at the hub: only the sink keeps them in order.
        const { peer, sink } = yield* setup({ concurrency: 4 }, { partitionCount: 4, settleDelayMs: 5 })
        yield* Effect.all(
          pages.map((events, sequence) => sink.write({ events, sequence, fields })),
          { concurrency: 2 }
        )
        const events = pages.flat()
        const byId = new Map(events.map((e) => [e.id, e]))
        const received = peer.events()
        expect(received.map((r) => r.messageId).sort()).toEqual(events.map((e) => e.id).sort())
        for (const r of received) {
          const event = byId.get(r.messageId!)!
          const key = keyOf.get(event) ?? event.user.keyId
          expect(r.properties["partitionKey"]).toBe(key)
          expect(r.partition).toBe(String(sdk.mapPartitionKeyToId(key, 4)))
          // The body is still the canonical event: only the key was mapped.
          expect(bodyOf(r)).toEqual({ schemaVersion: 1, ...event })
        }
        // Each mapped key's events arrive in cursor order (page 0, then page 1).
        for (let k = 0; k < 5; k++) {
          const key = `acct-${k}`
          const arrived = peer.partition(String(sdk.mapPartitionKeyToId(key, 4))).filter((r) => r.properties["partitionKey"] === key)
          expect(arrived.map((r) => r.messageId)).toEqual(events.filter((e) => keyOf.get(e) === key).map((e) => e.id))
        }
        // One send per partition per page, not one per key.
        expect(peer.transfers().length).toBeLessThanOrEqual(2 * 4)
        expect(peer.maxInFlightPerPartition()).toBe(1)
      })
    )
  })

  it("a mapped partitionKey also keys the events of a sink configured with partitionKey: none", async () => {
    const sdk = await sdkMapper()
    const events = sampleEvents(40, 63)
    await run(
      Effect.gen(function* () {
        const { peer, sink } = yield* setup({ partitionKey: "none" }, { partitionCount: 4 })
        yield* sink.write({ events, sequence: 0, fields: fieldsOf([[events[0]!, { partitionKey: "acct-1" }]]) })
        const received = peer.events()
        const keyed = received.filter((r) => r.properties["partitionKey"] !== undefined)
        expect(keyed.map((r) => [r.messageId, r.properties["partitionKey"], r.partition])).toEqual([
          [events[0]!.id, "acct-1", String(sdk.mapPartitionKeyToId("acct-1", 4))]
        ])
        expect(received.length).toBe(events.length)
      })
    )
  })

  it("sends the mapped body as the event's JSON (null, a string and a list included); an event without fields sends the canonical event", async () => {
    const events = sampleEvents(5, 64)
    const [a, b, c, d, plain] = events as [ExportEvent, ExportEvent, ExportEvent, ExportEvent, ExportEvent]
    await run(
      Effect.gen(function* () {
        const { peer, sink } = yield* setup({}, { partitionCount: 1 })
        const result = yield* sink.write({
          events,
          sequence: 0,
          fields: fieldsOf([
            [a, { body: { kind: "flag", user: a.user.keyId, tags: ["x", 1, true] } }],
            [b, { body: null }],
            [c, { body: "just text" }],
            [d, { body: [1, 2.5, "three"] }]
          ])
        })
        expect(result.rejected).toEqual([])
        const byId = new Map(peer.events().map((r) => [r.messageId!, r]))
        expect(bodyOf(byId.get(a.id)!)).toEqual({ kind: "flag", user: a.user.keyId, tags: ["x", 1, true] })
        expect(byId.get(b.id)!.body.toString("utf8")).toBe("null")
        expect(byId.get(c.id)!.body.toString("utf8")).toBe('"just text"')
        expect(bodyOf(byId.get(d.id)!)).toEqual([1, 2.5, "three"])
        expect(bodyOf(byId.get(plain.id)!)).toEqual({ schemaVersion: 1, ...plain })
        // The rest of the event is the sink's own: messageId, contentType, properties.
        for (const r of byId.values()) {
          expect(r.contentType).toBe("application/json")
          expect(r.properties["partitionKey"]).toBe(events.find((e) => e.id === r.messageId)!.user.keyId)
        }
      })
    )
  })

  it("a body the mapping makes larger than the hub's limit is rejected unsent, as an oversize event is; the same event unmapped is sent", async () => {
    const [big, small] = sampleEvents(2, 65) as [ExportEvent, ExportEvent]
    await run(
      Effect.gen(function* () {
        const { peer, sink } = yield* setup({}, { partitionCount: 1, maxMessageSize: 262_144 })
        const result = yield* sink.write({ events: [big, small], sequence: 0, fields: fieldsOf([[big, { body: { blob: "b".repeat(300_000) } }]]) })
        expect(result.rejected.map((r) => r.event)).toEqual([big])
        expect(result.rejected[0]!.reason).toBe(
          "the event (its body from sink.map) is larger than the hub's limit of 262144 bytes per send (Event Hubs Basic accepts 256 KB, Standard 1 MB)"
        )
        expect(peer.events().map((r) => r.messageId)).toEqual([small.id])
        yield* sink.write({ events: [big], sequence: 1 })
        expect(peer.events().map((r) => r.messageId)).toEqual([small.id, big.id])
      })
    )
  })
})

describe("render with mapped fields", () => {
  const [event] = sampleEvents(1, 66) as [ExportEvent]

  it("applies the partition key (property included) and the body", () => {
    const message = render({ partitionKey: "user" })(event, { partitionKey: "acct-9", body: { only: "this" } })
    expect(message.partitionKey).toBe("acct-9")
    expect(message.properties["partitionKey"]).toBe("acct-9")
    expect(message.body).toEqual({ only: "this" })
    expect(message.messageId).toBe(event.id)
    expect(render({ partitionKey: "none" })(event, { body: null }).body).toBeNull()
  })

  it("without fields, or with none of its own, renders as before", () => {
    const plain = render({ partitionKey: "user" })(event)
    expect(render({ partitionKey: "user" })(event, {})).toEqual(plain)
    expect(plain.body).toEqual({ schemaVersion: 1, ...event })
    expect(plain.partitionKey).toBe(event.user.keyId)
  })
})
