import type { ExportEvent } from "@featbit-export/core"
import { type EventHubReceivedEvent, makeMemorySource, makeTestStores, runOnce } from "@featbit-export/testkit"
import { generateRows } from "@featbit-export/source-generate"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { eventsInCursorOrder, run, sampleEvents, sdkMapper, setup } from "./support.js"

const idsByUser = (events: ReadonlyArray<ExportEvent>): Map<string, Array<string>> => {
  const map = new Map<string, Array<string>>()
  for (const e of events) {
    const ids = map.get(e.user.keyId)
    if (ids === undefined) map.set(e.user.keyId, [e.id])
    else ids.push(e.id)
  }
  return map
}

const countBy = <A>(items: ReadonlyArray<A>, key: (a: A) => string): Map<string, number> => {
  const map = new Map<string, number>()
  for (const item of items) map.set(key(item), (map.get(key(item)) ?? 0) + 1)
  return map
}

const ids = (received: ReadonlyArray<EventHubReceivedEvent>) => received.map((r) => r.messageId!)

describe("eventhub sink: one batch per partition", () => {
  it("keeps every user's events in one partition, in cursor order, across pages written 4 at once (20,000 users)", async () => {
    const sdk = await sdkMapper()
    const rows = [...generateRows({ count: 60_000, seed: 41 })]
    const events = eventsInCursorOrder(rows)
    const expected = idsByUser(events)
    expect(expected.size).toBeGreaterThan(10_000)
    await run(
      Effect.gen(function* () {
        // Transfers settle 5 ms after arrival, so pages written at once overlap at the hub: only the sink's own
        // ordering keeps a later page's batch for a partition behind an earlier page's.
        const { peer, sink } = yield* setup({ concurrency: 4 }, { partitionCount: 8, settleDelayMs: 5 })
        const summary = yield* runOnce(makeMemorySource(rows), sink, makeTestStores(), { batchSize: 10_000, inFlight: 4 })
        expect(summary.exported).toBe(events.length)
        const received = peer.events()
        expect(received.length).toBe(events.length)
        expect(new Set(ids(received)).size).toBe(events.length)

        const byId = new Map(events.map((e) => [e.id, e]))
        const partitionsOfUser = new Map<string, Set<string>>()
        for (const r of received) {
          const user = byId.get(r.messageId!)!.user.keyId
          partitionsOfUser.set(user, (partitionsOfUser.get(user) ?? new Set()).add(r.partition))
          // The partition the SDK (and the service) would choose for the key; the key travels as a property.
          expect(r.partition).toBe(String(sdk.mapPartitionKeyToId(user, 8)))
          expect(r.properties["partitionKey"]).toBe(user)
          expect(r.partitionKey).toBeUndefined()
        }
        expect([...partitionsOfUser.values()].every((set) => set.size === 1)).toBe(true)
        for (let p = 0; p < 8; p++) {
          const arrived = idsByUser(peer.partition(String(p)).map((r) => byId.get(r.messageId!)!))
          for (const [user, order] of arrived) expect(order).toEqual(expected.get(user))
        }
        // Sends go to partition links without a key (Event Hubs refuses both), one per partition at a time,
        // but several partitions at once.
        expect(peer.transfers().every((t) => t.partitionLink !== undefined && t.partitionKey === undefined)).toBe(true)
        expect(peer.maxInFlightPerPartition()).toBe(1)
        expect(peer.maxInFlight()).toBeGreaterThan(1)
      })
    )
  })

  it("sends a page of 10,000 events from 20,000 users in about partitions x size splits, not one send per user", async () => {
    const events = sampleEvents(10_000, 42)
    const users = new Set(events.map((e) => e.user.keyId)).size
    expect(users).toBeGreaterThan(7_000)
    for (const { partitions, limit } of [
      { partitions: 4, limit: 1_048_576 },
      { partitions: 32, limit: 262_144 }
    ]) {
      await run(
        Effect.gen(function* () {
          const { peer, sink } = yield* setup({}, { partitionCount: partitions, maxMessageSize: limit })
          yield* sink.write({ events, sequence: 0 })
          const transfers = peer.transfers()
          expect(transfers.reduce((n, t) => n + t.events, 0)).toBe(events.length)
          const bytes = transfers.reduce((n, t) => n + t.bytes, 0)
          expect(Math.max(...transfers.map((t) => t.bytes))).toBeLessThanOrEqual(limit)
          expect(transfers.length).toBeLessThanOrEqual(partitions * (1 + bytes / limit))
          // Per partition: every send but the last was full up to one event.
          const largest = Math.max(...peer.events().map((r) => r.body.length)) + 600
          for (const [partition, sends] of countBy(transfers, (t) => t.partition)) {
            const partitionBytes = transfers.filter((t) => t.partition === partition).reduce((n, t) => n + t.bytes, 0)
            expect(sends).toBeLessThanOrEqual(1 + Math.floor(partitionBytes / (limit - largest)))
          }
          expect(new Set(transfers.map((t) => t.partition)).size).toBe(partitions)
        })
      )
    }
  })

  it("partitionKey none spreads events evenly over every partition, in one batch per partition", async () => {
    const events = sampleEvents(1_000, 43)
    await run(
      Effect.gen(function* () {
        const { peer, sink } = yield* setup({ partitionKey: "none" }, { partitionCount: 4 })
        yield* sink.write({ events, sequence: 0 })
        yield* sink.write({ events: sampleEvents(1_000, 44), sequence: 1 })
        const received = peer.events()
        expect(received.length).toBe(2_000)
        expect(received.every((r) => r.partitionKey === undefined && r.properties["partitionKey"] === undefined)).toBe(true)
        expect([...countBy(received, (r) => r.partition).values()]).toEqual([500, 500, 500, 500])
        expect(peer.transfers().length).toBe(8)
      })
    )
  })

  it("partitions by a field of the event like the user key: one partition per value, the value as a property", async () => {
    const sdk = await sdkMapper()
    const events = sampleEvents(2_000, 45).map((e, i) => ({ ...e, properties: { ...e.properties, ...(i % 10 === 0 ? {} : { plan: `plan-${i % 7}` }) } }))
    await run(
      Effect.gen(function* () {
        const { peer, sink } = yield* setup({ partitionKey: "plan" }, { partitionCount: 4 })
        yield* sink.write({ events, sequence: 0 })
        const byId = new Map(events.map((e) => [e.id, e]))
        const received = peer.events()
        expect(received.length).toBe(events.length)
        for (const r of received) {
          const plan = byId.get(r.messageId!)!.properties["plan"] as string | undefined
          expect(r.properties["partitionKey"]).toBe(plan)
          if (plan !== undefined) expect(r.partition).toBe(String(sdk.mapPartitionKeyToId(plan, 4)))
        }
        // The 200 events without the field are spread round robin, 50 per partition.
        expect([...countBy(received.filter((r) => r.properties["partitionKey"] === undefined), (r) => r.partition).values()]).toEqual([50, 50, 50, 50])
        // One send per partition that got events (each partition's share fits one send here).
        expect(peer.transfers().length).toBe(new Set(received.map((r) => r.partition)).size)
      })
    )
  })

  it("a retry resends only the partitions' batches that were refused; nothing accepted is sent twice", async () => {
    const events = sampleEvents(4_000, 46)
    await run(
      Effect.gen(function* () {
        const { peer, sink } = yield* setup({ sdkMaxRetries: 0 }, { partitionCount: 4 })
        const refused = new Set<string>()
        peer.rejectWhen((_, { partition }) => {
          if (partition !== "1" && partition !== "3") return false
          if (refused.has(partition)) return false
          refused.add(partition)
          return true
        }, "com.microsoft:server-busy")
        const first = yield* Effect.either(sink.write({ events, sequence: 3 }))
        expect(Either.isLeft(first) && first.left.retryable).toBe(true)
        expect(Either.isLeft(first) && first.left.message).toMatch(/^2 of \d+ sends failed; the first: .*busy/)
        expect([...new Set(peer.events().map((r) => r.partition))].sort()).toEqual(["0", "2"])
        const acceptedBefore = countBy(peer.transfers(), (t) => t.partition)
        const attemptsBefore = peer.attempts()

        const second = yield* sink.write({ events, sequence: 3 })
        expect(second.rejected).toEqual([])
        // Only the refused partitions' batches went out again, each once.
        const acceptedAfter = countBy(peer.transfers(), (t) => t.partition)
        expect(peer.attempts() - attemptsBefore).toBe(acceptedAfter.get("1")! + acceptedAfter.get("3")!)
        expect([acceptedAfter.get("0"), acceptedAfter.get("2")]).toEqual([acceptedBefore.get("0"), acceptedBefore.get("2")])
        expect(ids(peer.events()).sort()).toEqual(events.map((e) => e.id).sort())
      })
    )
  })

  it("a batch refused in the middle of a partition's batches is resent with the ones after it, and the partition keeps its order", async () => {
    // Basic tier (256 KB) and 3 KB per event: each partition's share of the page takes several sends.
    const events = sampleEvents(800, 47).map((e) => ({ ...e, properties: { ...e.properties, padding: "p".repeat(3_000) } }))
    const expected = idsByUser(events)
    await run(
      Effect.gen(function* () {
        const { peer, sink } = yield* setup({ sdkMaxRetries: 0 }, { partitionCount: 2, maxMessageSize: 262_144 })
        let seen = 0
        peer.rejectWhen((_, { partition }) => partition === "1" && ++seen === 2, "com.microsoft:server-busy")
        const first = yield* Effect.either(sink.write({ events, sequence: 0 }))
        expect(Either.isLeft(first)).toBe(true)
        const partitionOne = peer.partition("1")
        const sendsOfOne = peer.transfers().filter((t) => t.partition === "1")
        // Only partition 1's first batch got in; its later ones were held back behind the refused one.
        expect(sendsOfOne.length).toBe(1)
        expect(partitionOne.length).toBe(sendsOfOne[0]!.events)
        yield* sink.write({ events, sequence: 0 })
        expect(peer.transfers().filter((t) => t.partition === "1").length).toBeGreaterThanOrEqual(3)
        expect(ids(peer.events()).sort()).toEqual(events.map((e) => e.id).sort())
        const byId = new Map(events.map((e) => [e.id, e]))
        for (const p of ["0", "1"]) {
          for (const [user, order] of idsByUser(peer.partition(p).map((r) => byId.get(r.messageId!)!))) expect(order).toEqual(expected.get(user))
        }
      })
    )
  })
})
