import { exportThroughFaults } from "@featbit-export/testkit"
import * as Effect from "effect/Effect"
import { expect, it } from "vitest"
import { recentRows, run, setup } from "./support.js"

it("exports 100k events with faults on a quarter of the requests: every event delivered, every duplicate under the same insert_id", async () => {
  const seed = Number(process.env["FAULT_SEED"] ?? 20_261)
  const rows = recentRows(100_000, 9)
  await run(
    Effect.gen(function* () {
      const { receiver, sink } = yield* setup(
        { maxEventsPerRequest: 500, requestTimeout: "300ms" },
        {
          faults: {
            probability: 0.25,
            seed,
            kinds: [
              { kind: "429" },
              { kind: "429", retryAfter: "0", ingestOthers: true, users: [] },
              { kind: "503" },
              { kind: "500" },
              { kind: "500AfterIngest", status: 502 },
              { kind: "reset" },
              { kind: "resetAfterAccept" },
              { kind: "resetAfterAccept", partial: true },
              { kind: "slow", delayMs: 600 }
            ]
          }
        }
      )
      const summary = yield* exportThroughFaults(rows, sink, `seed ${seed}`)
      const stats = receiver.stats()
      // Faults really happened, and re-sends of requests stored before the failure came back as duplicates.
      expect(stats.faults).toBeGreaterThan(stats.requests / 8)
      expect(stats.duplicates).toBeGreaterThan(0)
      expect(stats.statuses["413"] ?? 0).toBe(0)
      const stored = receiver.events.map((e) => String(e["insert_id"]))
      // Every event is stored once: each re-send carried the insert_id of the first, so the receiver's dedupe
      // (on user and insert_id) caught every duplicate.
      expect(new Set(stored).size).toBe(stored.length)
      expect(new Set(stored)).toEqual(new Set(rows.map((r) => r.id)))
      expect(stats.received).toBe(stats.stored + stats.duplicates)
      console.log(`amplitude 100k export, seed ${seed}: ${stats.requests} requests, ${stats.faults} faults, ${stats.duplicates} duplicates, ${summary.retries} retries`)
    })
  )
}, 120_000)
