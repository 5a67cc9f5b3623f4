import { exportThroughFaults } from "@featbit-export/testkit"
import { generateRows } from "@featbit-export/source-generate"
import * as Effect from "effect/Effect"
import { expect, it } from "vitest"
import { run, setup } from "./support.js"

it("exports 100k events with faults on a quarter of the requests: every event at least once, duplicates identical", async () => {
  const seed = Number(process.env["FAULT_SEED"] ?? 20_241)
  const rows = [...generateRows({ count: 100_000, seed: 9 })]
  await run(
    Effect.gen(function* () {
      const { receiver, sink } = yield* setup(
        { maxEventsPerRequest: 500 },
        {
          faults: {
            probability: 0.25,
            seed,
            kinds: [{ kind: "429", retryAfter: "0" }, { kind: "503" }, { kind: "drop" }, { kind: "dropAfterAccept" }]
          }
        }
      )
      const summary = yield* exportThroughFaults(rows, sink, `seed ${seed}`)
      const stats = receiver.stats()
      // Faults really happened, and re-sends of requests accepted before the connection dropped came back.
      expect(stats.faults).toBeGreaterThan(stats.requests / 8)
      expect(stats.duplicates).toBeGreaterThan(0)
      const delivered = new Set(receiver.messageIds("track"))
      expect(rows.filter((r) => !delivered.has(r.id)).length, `seed ${seed}`).toBe(0)
      expect(delivered.size).toBe(rows.length)
      // Every duplicate is the same message under the same messageId.
      expect(stats.conflictingDuplicates).toBe(0)
      console.log(`100k export, seed ${seed}: ${stats.requests} requests, ${stats.faults} faults, ${stats.duplicates} duplicates, ${summary.retries} retries`)
    })
  )
}, 120_000)
