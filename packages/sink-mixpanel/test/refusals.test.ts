import { decodeFeatBitRow } from "@featbit-export/core"
import { makeMemorySource, makeTestStores, runOnce } from "@featbit-export/testkit"
import { generateRows } from "@featbit-export/source-generate"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { afterEach, describe, expect, it, vi } from "vitest"
import { failedRecords, insertIdOf } from "../src/index.js"
import { decodeConfig, featbitIds, flagEvent, makeSink, metricEvent, run, setup } from "./support.js"

const user = (keyId: string) => ({ keyId, name: "n" })

describe("mixpanel sink: per-event refusals (strict=1)", () => {
  it.each(["$insert_id", "insert_id"] as const)(
    "dead-letters exactly the events in failed_records (keyed %s) with field: message, and the valid ones are imported",
    async (key) => {
      const events = [
        metricEvent({ id: "0b7a3c1e-0000-4000-8000-000000000010" }),
        metricEvent({ id: "0b7a3c1e-0000-4000-8000-000000000011", user: user("anonymous") }),
        flagEvent({ id: "0b7a3c1e-0000-4000-8000-000000000012" }),
        flagEvent({ id: "0b7a3c1e-0000-4000-8000-000000000013", timestamp: "1970-06-01T00:00:00.000000Z" }),
        metricEvent({ id: "0b7a3c1e-0000-4000-8000-000000000014", user: user("null") })
      ]
      await run(
        Effect.gen(function* () {
          const { receiver, sink } = yield* setup({}, { failedRecordInsertIdKey: key })
          const result = yield* sink.write({ events, sequence: 0 })
          expect(result.rejected.map((r) => [r.event.id, r.reason])).toEqual([
            ["0b7a3c1e-0000-4000-8000-000000000011", `properties.distinct_id: 'properties.distinct_id' may not be "anonymous"`],
            ["0b7a3c1e-0000-4000-8000-000000000013", "properties.time: 'properties.time' is before 1971-01-01"],
            ["0b7a3c1e-0000-4000-8000-000000000014", `properties.distinct_id: 'properties.distinct_id' may not be "null"`]
          ])
          expect(featbitIds(receiver)).toEqual(["0b7a3c1e-0000-4000-8000-000000000010", "0b7a3c1e-0000-4000-8000-000000000012"])
          // One request: the 400 is final, nothing is re-sent.
          expect(receiver.requests.map((r) => [r.status, r.imported, r.failed])).toEqual([[400, 2, 3]])
        })
      )
    }
  )

  it("through the engine: the refused events go to the dead-letter file with Mixpanel's reason, the cursor moves past them", async () => {
    const rows = [...generateRows({ count: 1_000, seed: 31 })]
    const bad = new Set(rows.filter((_, i) => i % 97 === 5).map((r) => r.id))
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ maxEventsPerRequest: 200 })
        const stores = makeTestStores()
        // A mapped distinct_id on Mixpanel's deny list for some events.
        const summary = yield* runOnce(makeMemorySource(rows), {
          ...sink,
          write: (batch) => sink.write({ ...batch, fields: (event) => (bad.has(event.id) ? { distinctId: "undefined" } : undefined) })
        }, stores)
        expect(summary.exported + stores.deadLetters.length).toBe(rows.length)
        expect(new Set(stores.deadLetters.map((d) => d.id))).toEqual(bad)
        for (const letter of stores.deadLetters) {
          expect({ stage: letter.stage, reason: letter.reason }).toEqual({ stage: "sink", reason: `properties.distinct_id: 'properties.distinct_id' may not be "undefined"` })
        }
        const delivered = new Set(featbitIds(receiver))
        expect(rows.filter((r) => !bad.has(r.id)).every((r) => delivered.has(r.id))).toBe(true)
        expect([...bad].some((id) => delivered.has(id))).toBe(false)
        expect(receiver.stats().failedRecords).toBe(bad.size)
      })
    )
    expect(rows.every((r) => Either.isRight(decodeFeatBitRow(r)))).toBe(true)
  })

  it("parses failed_records, under either insert id key; a 400 without them is not a list of events", () => {
    expect(failedRecords("not json")).toBeUndefined()
    expect(failedRecords(JSON.stringify({ code: 400, error: "x" }))).toBeUndefined()
    expect(failedRecords(JSON.stringify({ failed_records: [] }))).toBeUndefined()
    expect(failedRecords(JSON.stringify({ failed_records: [{ index: 2, insert_id: "abc", field: "properties.time", message: "m" }] }))).toEqual([
      { index: 2, insertId: "abc", field: "properties.time", message: "m" }
    ])
  })

  describe("keys failed_records on index, checked against the insert id", () => {
    afterEach(() => vi.restoreAllMocks())
    const events = [metricEvent({ id: "0b7a3c1e-0000-4000-8000-000000000020" }), metricEvent({ id: "0b7a3c1e-0000-4000-8000-000000000021" }), metricEvent({ id: "0b7a3c1e-0000-4000-8000-000000000022" })]
    const answering = (records: ReadonlyArray<Record<string, unknown>>) =>
      vi.spyOn(globalThis, "fetch").mockImplementation(async () =>
        new Response(JSON.stringify({ code: 400, error: "some data points in the request failed validation", failed_records: records, num_records_imported: 3 - records.length, status: "Bad Request" }), { status: 400 })
      )
    const rejectedIds = () =>
      run(
        Effect.gen(function* () {
          const sink = yield* makeSink(decodeConfig({ endpoint: "us" }))
          const result = yield* sink.write({ events, sequence: 0 })
          return result.rejected.map((r) => [r.event.id, r.reason])
        })
      )

    it("by index alone when no insert id is given", async () => {
      answering([{ index: 1, $insert_id: "", field: "properties.time", message: "bad time" }])
      expect(await rejectedIds()).toEqual([["0b7a3c1e-0000-4000-8000-000000000021", "properties.time: bad time"]])
    })

    it("by insert id when the index names another event", async () => {
      answering([{ index: 0, $insert_id: insertIdOf("0b7a3c1e-0000-4000-8000-000000000022"), field: "event", message: "m" }])
      expect(await rejectedIds()).toEqual([["0b7a3c1e-0000-4000-8000-000000000022", "event: m"]])
    })
  })
})
