import { makeMemorySource, makeTestStores, runOnce } from "@featbit-export/testkit"
import { generateRows } from "@featbit-export/source-generate"
import * as Effect from "effect/Effect"
import { describe, expect, it } from "vitest"
import { eventsInCursorOrder, run, setup } from "./support.js"

// Issue 12's export: 200,000 events from the generator's 20,000 users, a hub that refuses a quarter of all
// sends as busy. Busy waits are 10 ms here (Azure asks for 4 s), so the test measures the sink's work.
const EVENTS = 200_000

describe("eventhub sink at scale", () => {
  it(`exports ${EVENTS.toLocaleString("en")} events with a quarter of the sends refused as busy, each event delivered exactly once`, async () => {
    const rows = [...generateRows({ count: EVENTS, seed: 61 })]
    expect(new Set(eventsInCursorOrder(rows).map((e) => e.user.keyId)).size).toBeGreaterThan(19_000)
    await run(
      Effect.gen(function* () {
        const { peer, sink } = yield* setup({ sdkMaxRetries: 0 }, { partitionCount: 4 })
        peer.rejectWhen((attempt) => attempt % 4 === 0, "com.microsoft:server-busy")
        const summary = yield* runOnce(makeMemorySource(rows), sink, makeTestStores(), { batchSize: 10_000, inFlight: 4 })
        expect(summary.exported).toBe(rows.length)
        expect(summary.retries).toBeGreaterThan(0)
        const ids = peer.events().map((r) => r.messageId)
        expect(ids.length).toBe(rows.length)
        expect(new Set(ids).size).toBe(rows.length)
        expect(new Set(ids)).toEqual(new Set(rows.map((r) => r.id)))
        // A quarter of the attempts were refused; the accepted sends are about pages x partitions x size splits
        // (each full up to one event), where one send per user would have been about 150,000.
        expect(peer.attempts() - peer.acceptedTransfers()).toBeGreaterThanOrEqual(Math.floor(peer.attempts() / 4))
        const bytes = peer.transfers().reduce((n, t) => n + t.bytes, 0)
        expect(peer.acceptedTransfers()).toBeLessThanOrEqual((EVENTS / 10_000) * 4 + bytes / (1_048_576 - 16_384))
      })
    )
  })
})
