import * as http from "node:http"
import { type ExportEvent, type PipelineError, type SinkError } from "@featbit-export/core"
import { generateRows } from "@featbit-export/source-generate"
import { captureLogs, makeMemorySource, makeTestStores, runOnce } from "@featbit-export/testkit"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { SPLIT_BUDGET } from "../src/index.js"
import { flagEvent, makeSink, metricEvent, run, sampleEvents, setup } from "./support.js"

const ids = (events: ReadonlyArray<ExportEvent>) => events.map((e) => e.id)

describe("posthog sink: per-event refusals", () => {
  it("finds the events PostHog refuses in a refused request by halving it, dead-letters them with PostHog's reason and stores the rest", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        const events = sampleEvents(1_000, 31)
        const noDistinctId = new Set([events[17]!.id, events[600]!.id])
        const result = yield* sink.write({
          events,
          sequence: 0,
          fields: (event) => (noDistinctId.has(event.id) ? { distinct_id: "" } : undefined)
        })
        expect(result.rejected.map((r) => r.event.id).sort()).toEqual([...noDistinctId].sort())
        for (const rejected of result.rejected) expect(rejected.reason).toBe("PostHog refused the event: HTTP 400 event submitted without a distinct_id")
        const stored = new Set(receiver.rows.map((row) => row.uuid))
        expect(stored.size).toBe(998)
        for (const id of ids(events)) expect(stored.has(id)).toBe(!noDistinctId.has(id))
        // Halving: about 2 log2(1000) requests per bad event, not one per event.
        expect(receiver.stats().requests).toBeLessThanOrEqual(1 + 2 * 2 * 10 + 1)
        expect(receiver.stats().duplicates).toBe(0)
      })
    )
  })

  it("quotes the JSON error body of a newer capture as the reason, for an event without a name", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({}, { errorFormat: "json" })
        const bad = metricEvent({ eventName: "" })
        const result = yield* sink.write({ events: [flagEvent(), bad], sequence: 0 })
        expect(result.rejected).toEqual([
          { event: bad, reason: 'PostHog refused the event: HTTP 400 {"status":400,"code":"missing_event_name","error":"event submitted with an empty event name"}' }
        ])
        expect(receiver.rows.map((row) => row.uuid)).toEqual([flagEvent().id])
      })
    )
  })

  it("dead-letters an event whose id is not a UUID without sending it: PostHog would refuse the request, or replace the id", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        const bad = flagEvent({ id: "not-a-uuid-42" })
        const result = yield* sink.write({ events: [bad, metricEvent()], sequence: 0 })
        expect(result.rejected.length).toBe(1)
        expect(result.rejected[0]!.event).toBe(bad)
        expect(result.rejected[0]!.reason).toContain('its id "not-a-uuid-42" is not a UUID')
        expect(receiver.stats().requests).toBe(1)
        expect(receiver.rows.map((row) => row.uuid)).toEqual([metricEvent().id])
      })
    )
  })

  it("dead-letters an event over PostHog's 1 MB per event without sending it (PostHog would take it and discard it)", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        const big = flagEvent({ flagKey: "k".repeat(600_000) })
        const result = yield* sink.write({ events: [big, metricEvent()], sequence: 0 })
        expect(result.rejected.length).toBe(1)
        expect(result.rejected[0]!.reason).toMatch(/^its PostHog event is \d+ bytes, over the limit of 1000000 bytes per event \(PostHog discards events over 1 MB\)$/)
        expect(receiver.rows.map((row) => row.uuid)).toEqual([metricEvent().id])
      })
    )
  })

  it("stops halving after its budget and dead-letters what is still refused, with the reason", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ maxEventsPerRequest: 1_000 })
        const events = sampleEvents(1_000, 32)
        const result = yield* sink.write({ events, sequence: 0, fields: () => ({ event: "" }) })
        expect(result.rejected.length).toBe(1_000)
        expect(result.rejected.some((r) => r.reason.includes(`the sink stopped halving after ${SPLIT_BUDGET} requests`))).toBe(true)
        expect(receiver.stats().requests).toBeLessThanOrEqual(1 + SPLIT_BUDGET + 1)
        expect(receiver.rows.length).toBe(0)
      })
    )
  })

  it("the engine writes the refused events to the dead-letter file and exports the others", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        const rows = [...generateRows({ count: 500, seed: 33 })]
        const poisoned = new Set([rows[3]!.id, rows[250]!.id])
        const stores = makeTestStores()
        const summary = yield* runOnce(
          makeMemorySource(rows.map((row) => (poisoned.has(row.id) ? { ...row, id: `${row.id}-x` } : row))),
          sink,
          stores,
          { batchSize: 100 }
        )
        expect(summary.exported).toBe(498)
        expect(stores.deadLetters.length).toBe(2)
        expect(receiver.stats().mergedRows).toBe(498)
      })
    )
  })
})

/** A server answering `status` and `body` to everything; its request count. */
const answering = (status: number, body: string) =>
  Effect.acquireRelease(
    Effect.promise(
      () =>
        new Promise<{ url: string; requests: () => number; server: http.Server }>((resolve) => {
          let requests = 0
          const server = http.createServer((req, res) => {
            req.resume()
            req.on("end", () => {
              requests++
              res.writeHead(status, { "content-type": "text/plain" })
              res.end(body)
            })
          })
          server.listen(0, "127.0.0.1", () => {
            const address = server.address() as { port: number }
            resolve({ url: `http://127.0.0.1:${address.port}`, requests: () => requests, server })
          })
        })
    ),
    ({ server }) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
  )

describe("posthog sink: an endpoint that refuses everything", () => {
  it("stops the pipeline fatally after a handful of requests when the probe is refused too: nothing dead-lettered, the cursor unmoved", async () => {
    await run(
      Effect.gen(function* () {
        const server = yield* answering(400, "Bad Request")
        const sink = yield* makeSink({ host: server.url })
        const stores = makeTestStores()
        const outcome = yield* Effect.either(runOnce(makeMemorySource([...generateRows({ count: 500, seed: 12 })]), sink, stores))
        if (Either.isRight(outcome)) throw new Error("the pipeline finished")
        const reason = (outcome.left as PipelineError).reason as SinkError
        expect(reason.retryable).toBe(false)
        expect(reason.message).toBe(
          `${server.url}/batch/ answers HTTP 400 to whole requests and HTTP 400 to a probe that PostHog's capture refuses only as an event without a name (Bad Request), so the refusal is the endpoint's, not the events': check sink.host and any proxy in front of it`
        )
        expect(stores.deadLetters).toEqual([])
        expect(stores.saves).toEqual([])
        expect(server.requests()).toBeLessThanOrEqual(8)
      })
    )
  })

  it("a proxy refusing large requests with 413: the halves are sent, nothing is lost, and the log says to lower maxBytesPerRequest", async () => {
    const logs = captureLogs()
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup({ gzip: false }, { maxBatchBodyBytes: 100_000 })
        const events = sampleEvents(1_000, 34)
        const result = yield* sink.write({ events, sequence: 0 })
        expect(result.rejected).toEqual([])
        expect(receiver.stats().statuses["413"]).toBeGreaterThan(0)
        expect(new Set(receiver.rows.map((row) => row.uuid))).toEqual(new Set(ids(events)))
        expect(receiver.stats().duplicates).toBe(0)
      }).pipe(Effect.provide(logs.layer))
    )
    expect(logs.lines.some((line) => line.includes("lower sink.maxBytesPerRequest"))).toBe(true)
  })
})
