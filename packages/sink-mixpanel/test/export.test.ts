import { Timestamp, decodeFeatBitRow } from "@featbit-export/core"
import { exportThroughFaults, mixpanelDedupeKey } from "@featbit-export/testkit"
import { generateRows } from "@featbit-export/source-generate"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { expect, it } from "vitest"
import { insertIdOf } from "../src/index.js"
import { featbitIds, run, setup } from "./support.js"

it("exports 100k events starting an hour ago with faults on a quarter of the requests: every event delivered, every duplicate with the same dedupe key", async () => {
  const seed = Number(process.env["FAULT_SEED"] ?? 20_262)
  const rows = [...generateRows({ count: 100_000, seed: 9, start: Timestamp.fromMillis(Date.now() - 60 * 60 * 1000) })]
  const events = rows.map((row) => Either.getOrThrow(decodeFeatBitRow(row)))
  // All within Mixpanel's window (no more than an hour ahead), so no event is refused for its time.
  expect(Timestamp.toMicros(events.at(-1)!.timestamp) / 1000n).toBeLessThan(BigInt(Date.now() + 30 * 60 * 1000))
  await run(
    Effect.gen(function* () {
      const { receiver, sink } = yield* setup(
        { maxEventsPerRequest: 500, requestTimeout: "1s" },
        {
          faults: {
            probability: 0.25,
            seed,
            kinds: [{ kind: "429", retryAfter: "0" }, { kind: "429" }, { kind: "502" }, { kind: "503" }, { kind: "reset" }, { kind: "resetAfterStore" }, { kind: "hang" }]
          }
        }
      )
      const summary = yield* exportThroughFaults(rows, sink, `seed ${seed}`)
      const stats = receiver.stats()
      // Faults really happened, and re-sends of requests stored before the connection dropped came back.
      expect(stats.faults).toBeGreaterThan(stats.requests / 8)
      expect(stats.duplicates).toBeGreaterThan(0)
      expect(stats.failedRecords).toBe(0)
      expect(stats.statuses["413"]).toBeUndefined()
      const delivered = new Set(featbitIds(receiver))
      expect(rows.filter((r) => !delivered.has(r.id)).length, `seed ${seed}`).toBe(0)
      // One stored event per FeatBit event: every re-send was a duplicate by Mixpanel's 4-tuple.
      expect(stats.unique).toBe(rows.length)
      expect(new Set(receiver.insertIds())).toEqual(new Set(events.map((e) => insertIdOf(e.id))))
      // Every copy ever sent of an event carries the same (event, distinct_id, time, $insert_id).
      const keys = new Map<string, Set<string>>()
      for (const record of receiver.received as ReadonlyArray<{ event: string; properties: Record<string, unknown> }>) {
        const id = record.properties["featbitId"] as string
        const set = keys.get(id) ?? new Set<string>()
        set.add(mixpanelDedupeKey(record))
        keys.set(id, set)
      }
      expect(keys.size).toBe(rows.length)
      expect([...keys.values()].filter((set) => set.size !== 1)).toEqual([])
      expect(receiver.received.length).toBeGreaterThan(rows.length)
      console.log(
        `100k export, seed ${seed}: ${stats.requests} requests, ${stats.faults} faults, ${stats.duplicates} duplicates, ${summary.retries} retries`
      )
    })
  )
}, 120_000)
