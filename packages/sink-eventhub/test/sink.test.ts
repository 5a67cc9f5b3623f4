import { type ExportEvent, type PipelineError, type SinkError, isFlagValue } from "@featbit-export/core"
import { eventHubPeer, makeMemorySource, makeTestStores, runOnce } from "@featbit-export/testkit"
import { generateRows } from "@featbit-export/source-generate"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { EventHubSink, render } from "../src/index.js"
import { FAST, SECRET_KEY, decodeConfig, run, sampleEvents, sdkMapper, setup } from "./support.js"

const byUser = (events: ReadonlyArray<ExportEvent>): Map<string, Array<string>> => {
  const map = new Map<string, Array<string>>()
  for (const e of events) map.set(e.user.keyId, [...(map.get(e.user.keyId) ?? []), e.id])
  return map
}

const errorText = (error: unknown): string => {
  const e = error as { message?: unknown; reason?: { message?: unknown } }
  return [String(error), String(e.message), String(e.reason?.message ?? "")].join("\n")
}

describe("eventhub sink", () => {
  it("sends each event as JSON with its messageId, contentType, properties and the user key, to the key's partition, in order per user", async () => {
    const sdk = await sdkMapper()
    const events = sampleEvents(400, 1)
    await run(
      Effect.gen(function* () {
        const { peer, sink } = yield* setup({}, { partitionCount: 4 })
        const result = yield* sink.write({ events, sequence: 0 })
        expect(result.rejected).toEqual([])
        const received = peer.events()
        expect(received.map((r) => r.messageId).sort()).toEqual(events.map((e) => e.id).sort())
        const byId = new Map(events.map((e) => [e.id, e]))
        for (const r of received) {
          const event = byId.get(r.messageId!)!
          expect(r.contentType).toBe("application/json")
          // Sent to a partition id, so without x-opt-partition-key: the key is an application property.
          expect(r.partitionKey).toBeUndefined()
          expect(r.properties["partitionKey"]).toBe(event.user.keyId)
          expect(r.partition).toBe(String(sdk.mapPartitionKeyToId(event.user.keyId, 4)))
          expect(r.properties["event"]).toBe(event.event)
          expect(r.properties["envId"]).toBe(event.envId)
          if (isFlagValue(event)) expect(r.properties["flagKey"]).toBe(event.flagKey)
          else expect(r.properties["eventName"]).toBe(event.eventName)
          expect(JSON.parse(r.body.toString("utf8"))).toEqual({ schemaVersion: 1, ...event })
        }
        // One user's events arrive in the batch's order within their partition.
        const expected = byUser(events)
        for (const id of ["0", "1", "2", "3"]) {
          const arrived = byUser(peer.partition(id).map((r) => byId.get(r.messageId!)!))
          for (const [user, ids] of arrived) expect(ids).toEqual(expected.get(user))
        }
        expect(new Set(received.map((r) => r.partition)).size).toBeGreaterThan(1)
      })
    )
  })

  it("partitions by a field of the event, or not at all", async () => {
    const events = sampleEvents(100, 2)
    await run(
      Effect.gen(function* () {
        const a = yield* setup({ partitionKey: "envId" })
        yield* a.sink.write({ events, sequence: 0 })
        const envOf = new Map(events.map((e) => [e.id, e.envId]))
        expect(a.peer.events().every((r) => r.properties["partitionKey"] === envOf.get(r.messageId!))).toBe(true)
        const b = yield* setup({ partitionKey: "none" })
        yield* b.sink.write({ events, sequence: 0 })
        expect(b.peer.events().length).toBe(events.length)
        expect(b.peer.events().every((r) => r.partitionKey === undefined && r.properties["partitionKey"] === undefined)).toBe(true)
      })
    )
  })

  it("sizes sends by the link's limit (Basic, 256 KB): several events per transfer, none over the limit", async () => {
    const events = sampleEvents(600, 3).map((e) => ({ ...e, properties: { ...e.properties, padding: "p".repeat(2_000) } }))
    await run(
      Effect.gen(function* () {
        const { peer, sink } = yield* setup({ partitionKey: "envId" }, { maxMessageSize: 262_144 })
        yield* sink.write({ events, sequence: 0 })
        const transfers = peer.transfers()
        expect(transfers.reduce((n, t) => n + t.events, 0)).toBe(events.length)
        expect(Math.max(...transfers.map((t) => t.bytes))).toBeLessThanOrEqual(262_144)
        // ~1.3 MB in all: it cannot fit one send, and sends are not one event each.
        expect(transfers.length).toBeGreaterThan(3)
        expect(transfers.some((t) => t.events > 50)).toBe(true)
        expect(new Set(peer.events().map((r) => r.messageId)).size).toBe(events.length)
      })
    )
  })

  it("dead-letters an event larger than the hub's limit with the reason", async () => {
    const events = sampleEvents(20, 4)
    const big = { ...events[5]!, properties: { blob: "b".repeat(300_000) } }
    await run(
      Effect.gen(function* () {
        const { peer, sink } = yield* setup({}, { maxMessageSize: 262_144 })
        const result = yield* sink.write({ events: events.map((e, i) => (i === 5 ? big : e)), sequence: 0 })
        expect(result.rejected.map((r) => r.event.id)).toEqual([big.id])
        expect(result.rejected[0]!.reason).toContain("262144")
        expect(peer.events().length).toBe(19)
      })
    )
  })

  it("a retried write resends only the sends that were not accepted", async () => {
    const events = sampleEvents(300, 5)
    await run(
      Effect.gen(function* () {
        const { peer, sink } = yield* setup({ sdkMaxRetries: 0 }, { partitionCount: 4 })
        peer.rejectWhen((attempt) => attempt === 2, "com.microsoft:server-busy")
        const first = yield* Effect.either(sink.write({ events, sequence: 7 }))
        expect(Either.isLeft(first) && first.left.retryable).toBe(true)
        expect(Either.isLeft(first) && first.left.message).toContain("busy")
        const before = peer.events().length
        expect(before).toBeGreaterThan(0)
        expect(before).toBeLessThan(events.length)
        yield* sink.write({ events, sequence: 7 })
        expect(peer.events().length).toBe(events.length)
        expect(new Set(peer.events().map((r) => r.messageId)).size).toBe(events.length)
      })
    )
  })

  it("delivers everything through the engine when a quarter of the sends are refused as busy", async () => {
    const rows = [...generateRows({ count: 3_000, seed: 6 })]
    await run(
      Effect.gen(function* () {
        const { peer, sink } = yield* setup({ sdkMaxRetries: 0 })
        peer.rejectWhen((attempt) => attempt % 4 === 0, "com.microsoft:server-busy")
        const stores = makeTestStores()
        const summary = yield* runOnce(makeMemorySource(rows), sink, stores, { batchSize: 250 })
        expect(summary.exported).toBe(rows.length)
        expect(summary.retries).toBeGreaterThan(0)
        expect(new Set(peer.events().map((r) => r.messageId))).toEqual(new Set(rows.map((r) => r.id)))
        expect(peer.attempts()).toBeGreaterThan(peer.transfers().length)
        // Retries resend only the refused sends: nothing arrives twice.
        expect(peer.events().length).toBe(rows.length)
      })
    )
  })

  it("loses nothing when the connection drops mid-export", async () => {
    const rows = [...generateRows({ count: 3_000, seed: 7 })]
    await run(
      Effect.gen(function* () {
        const { peer, sink } = yield* setup({ requestTimeout: "3s" }, { partitionCount: 4 })
        peer.dropOnAttempts(5, 15)
        const stores = makeTestStores()
        const summary = yield* runOnce(makeMemorySource(rows), sink, stores, { batchSize: 250 })
        expect(peer.dropped()).toBe(2)
        expect(summary.exported).toBe(rows.length)
        expect(new Set(peer.events().map((r) => r.messageId))).toEqual(new Set(rows.map((r) => r.id)))
        const committed = stores.checkpoints.get("test")
        expect(committed?.cursor.id).toBe([...rows].sort((a, b) => (a.timestamp === b.timestamp ? (a.id < b.id ? -1 : 1) : a.timestamp < b.timestamp ? -1 : 1)).at(-1)!.id)
      })
    )
  })

  it("check names the hub and its partitions", async () => {
    await run(
      Effect.gen(function* () {
        const { sink } = yield* setup({}, { partitionCount: 3, hub: "featbit" })
        const lines = yield* sink.check!
        expect(lines.join("\n")).toContain('hub "featbit" with 3 partitions (0, 1, 2)')
      })
    )
  })

  it("check says in one sentence that an unknown hub does not exist, without the key", async () => {
    await run(
      Effect.gen(function* () {
        const peer = yield* eventHubPeer({ hub: "events" })
        const sink = yield* EventHubSink.make(decodeConfig({ connectionString: peer.connectionString("evnets", SECRET_KEY), ...FAST }), { pipeline: "t", baseDir: "." })
        const result = yield* Effect.either(sink.check!)
        expect(Either.isLeft(result)).toBe(true)
        const error = (result as Either.Left<SinkError, unknown>).left
        expect(error.retryable).toBe(false)
        expect(error.message).toContain("evnets")
        expect(error.message).toContain("does not exist")
        expect(error.message).toContain("sink.hub")
        expect(errorText(error)).not.toContain(SECRET_KEY)
      })
    )
  })

  it("stops the pipeline on refused credentials or an exhausted quota, and never prints the key", async () => {
    for (const condition of ["amqp:unauthorized-access", "amqp:resource-limit-exceeded"] as const) {
      await run(
        Effect.gen(function* () {
          const { peer, sink } = yield* setup()
          peer.rejectAll(condition)
          const stores = makeTestStores()
          const result = yield* Effect.either(runOnce(makeMemorySource([...generateRows({ count: 200, seed: 8 })]), sink, stores))
          expect(Either.isLeft(result)).toBe(true)
          const error = (result as Either.Left<PipelineError, unknown>).left
          expect(error.reason._tag).toBe("SinkError")
          expect((error.reason as SinkError).retryable).toBe(false)
          expect(error.message).toMatch(condition === "amqp:unauthorized-access" ? /credentials.*sasKey/ : /quota/)
          expect(errorText(error)).not.toContain(SECRET_KEY)
          expect(stores.saves).toEqual([])
        })
      )
    }
  })

  it("classifies an unreachable namespace as transient, without the key", async () => {
    await run(
      Effect.gen(function* () {
        const peer = yield* eventHubPeer()
        const port = peer.port
        // Nothing listens on the TLS port next to the peer's.
        const sink = yield* EventHubSink.make(
          decodeConfig({ namespace: `127.0.0.1:${port === 65535 ? 1 : port + 1}`, hub: "hub", sasKeyName: "send", sasKey: SECRET_KEY, ...FAST, sdkMaxRetries: 0 }),
          { pipeline: "t", baseDir: "." }
        )
        const result = yield* Effect.either(sink.write({ events: sampleEvents(3, 9), sequence: 0 }))
        expect(Either.isLeft(result)).toBe(true)
        const error = (result as Either.Left<SinkError, unknown>).left
        expect(error.retryable).toBe(true)
        expect(errorText(error)).not.toContain(SECRET_KEY)
      })
    )
  })

  it("refuses a configuration that names no hub, in one sentence", async () => {
    const result = await Effect.runPromise(Effect.scoped(Effect.either(EventHubSink.make(decodeConfig({ namespace: "ns" }), { pipeline: "t", baseDir: "." }))))
    expect(Either.isLeft(result) && result.left.message).toMatch(/sink\.connectionString, or sink\.namespace/)
    const noHub = await Effect.runPromise(
      Effect.scoped(
        Effect.either(
          EventHubSink.make(decodeConfig({ connectionString: `Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=${SECRET_KEY}` }), {
            pipeline: "t",
            baseDir: "."
          })
        )
      )
    )
    expect(Either.isLeft(noHub) && noHub.left.message).toMatch(/sink\.hub/)
    expect(Either.isLeft(noHub) && errorText(noHub.left)).not.toContain(SECRET_KEY)
  })
})

describe("render", () => {
  it("shows body, messageId, contentType, properties and partition key", () => {
    const event = sampleEvents(1, 10)[0]!
    const message = render({ partitionKey: "user" })(event)
    expect(message).toEqual({
      body: { schemaVersion: 1, ...event },
      messageId: event.id,
      contentType: "application/json",
      properties: isFlagValue(event)
        ? { event: event.event, envId: event.envId, flagKey: event.flagKey, partitionKey: event.user.keyId }
        : { event: event.event, envId: event.envId, eventName: event.eventName, partitionKey: event.user.keyId },
      partitionKey: event.user.keyId
    })
    const none = render({ partitionKey: "none" })(event)
    expect([none.partitionKey, none.properties["partitionKey"]]).toEqual([undefined, undefined])
    const byEnv = render({ partitionKey: "envId" })(event)
    expect([byEnv.partitionKey, byEnv.properties["partitionKey"]]).toEqual([event.envId, event.envId])
  })
})
