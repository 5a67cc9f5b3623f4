import { Timestamp } from "@featbit-export/core"
import { generateRows } from "@featbit-export/source-generate"
import { exportThroughFaults } from "@featbit-export/testkit"
import * as Effect from "effect/Effect"
import { expect, it } from "vitest"
import { run, setup } from "./support.js"

it("exports 100k events with faults on a quarter of the requests: every event at least once, duplicates under the same key and identical", async () => {
  const seed = Number(process.env["FAULT_SEED"] ?? 20_241)
  const rows = [...generateRows({ count: 100_000, seed: 9, start: Timestamp.fromMillis(Date.now() - 3_600_000) })]
  await run(
    Effect.gen(function* () {
      const { receiver, sink } = yield* setup(
        { maxEventsPerRequest: 500, requestTimeout: "2s" },
        {
          faults: {
            probability: 0.25,
            seed,
            kinds: [{ kind: "429", retryAfter: "0" }, { kind: "429" }, { kind: "503" }, { kind: "reset" }, { kind: "resetAfterStore" }]
          }
        }
      )
      const summary = yield* exportThroughFaults(rows, sink, `seed ${seed}`)
      const stats = receiver.stats()
      // Faults really happened, and re-sends of requests stored before the connection dropped came back.
      expect(stats.faults).toBeGreaterThan(stats.requests / 8)
      expect(stats.duplicates).toBeGreaterThan(0)
      expect(stats.statuses["413"] ?? 0).toBe(0)
      expect(stats.generatedUuids).toBe(0)
      const delivered = new Set(receiver.rows.map((row) => row.uuid))
      expect(rows.filter((r) => !delivered.has(r.id)).length, `seed ${seed}`).toBe(0)
      // One merge key per event: every duplicate has the same (day, event, distinct_id, uuid), so
      // PostHog's ReplacingMergeTree can collapse it, and carries the same content.
      expect(stats.mergedRows).toBe(rows.length)
      expect(stats.uniqueUuids).toBe(rows.length)
      expect(stats.conflictingDuplicates).toBe(0)
      console.log(`100k export, seed ${seed}: ${stats.requests} requests, ${stats.faults} faults, ${stats.duplicates} duplicates, ${summary.retries} retries`)
    })
  )
}, 120_000)
