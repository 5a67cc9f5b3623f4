// End to end: embedded ClickHouse (chDB) -> clickhouse source -> engine -> sink-segment -> receiver (own
// process), against a script that reads the same rows from the same chDB with @clickhouse/client and calls
// @segment/analytics-node's analytics.track() per event, awaiting each event's callback page by page (an
// exporter must know what was delivered before it moves its cursor).
//   node packages/sink-segment/bench/e2e.mjs [rows=100000] [flushAt=15]
// Build first: npx tsc -b tsconfig.json (at the root).
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { ClickHouseLogLevel, createClient } from "@clickhouse/client"
import { ClickHouseSource, createFeatBitEventsTable, insertFeatBitRows } from "@featbit-export/source-clickhouse"
import { generateRows } from "@featbit-export/source-generate"
import { CheckpointStore, DeadLetter, Pipeline, defaultRetryPolicy } from "@featbit-export/core"
import { Analytics } from "@segment/analytics-node"
import { createChdbConnection } from "chdb/connection"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { SegmentSink, SegmentSinkConfig } from "../dist/index.js"

const require = createRequire(import.meta.url)
const receiverCli = path.join(path.dirname(require.resolve("@featbit-export/testkit")), "segmentReceiverCli.js")
const WRITE_KEY = "bench-key"
const rows = Number(process.argv[2] ?? 100_000)
const flushAt = Number(process.argv[3] ?? 15)
const pageSize = 5_000

const receiver = spawn(process.execPath, [receiverCli, "--write-key", WRITE_KEY], { stdio: ["ignore", "pipe", "inherit"] })
const url = await new Promise((resolve) => receiver.stdout.once("data", (chunk) => resolve(JSON.parse(String(chunk)).url)))
const stats = async () => (await fetch(`${url}/stats`)).json()

const folder = mkdtempSync(path.join(tmpdir(), "featbit-export-segment-bench-"))
const client = createClient({ connection: createChdbConnection({ path: folder }), log: { level: ClickHouseLogLevel.OFF } })
await createFeatBitEventsTable(client, { database: "featbit" })
await insertFeatBitRows(client, generateRows({ count: rows, seed: 1 }), { database: "featbit" })

const runSink = async () => {
  const started = performance.now()
  const summary = await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const source = yield* ClickHouseSource.make(
          Schema.decodeUnknownSync(ClickHouseSource.config)({ url: `chdb:${folder}`, database: "featbit", lag: 0, batchSize: pageSize }),
          { pipeline: "bench", baseDir: folder }
        )
        const sink = yield* SegmentSink.make(Schema.decodeUnknownSync(SegmentSinkConfig)({ writeKey: WRITE_KEY, endpoint: url }), {
          pipeline: "bench",
          baseDir: folder
        })
        const stores = Layer.merge(Layer.succeed(CheckpointStore.CheckpointStore, CheckpointStore.makeMemory(new Map())), DeadLetter.layerMemory([]))
        return yield* Pipeline.run({
          name: "bench",
          source,
          sink,
          sourceType: "clickhouse",
          sinkType: "segment",
          batchSize: pageSize,
          inFlight: 4,
          retry: defaultRetryPolicy,
          mode: "once",
          pollInterval: Duration.seconds(1)
        }).pipe(Effect.provide(stores))
      })
    )
  )
  return { ms: performance.now() - started, events: summary.exported }
}

const runAnalytics = async () => {
  const started = performance.now()
  const analytics = new Analytics({ writeKey: WRITE_KEY, host: url, flushAt, maxRetries: 3 })
  const sql =
    "SELECT toString(uuid) AS id, env_id, event, properties, toString(timestamp) AS ts " +
    "FROM featbit.events WHERE timestamp >= {cts:DateTime64(6, 'UTC')} AND (timestamp > {cts:DateTime64(6, 'UTC')} OR toString(uuid) > {cid:String}) " +
    "ORDER BY timestamp, toString(uuid) LIMIT {limit:UInt32}"
  let cursor = { cts: "1970-01-01 00:00:00.000000", cid: "" }
  let events = 0
  for (;;) {
    const page = await (await client.query({ query: sql, format: "JSONEachRow", query_params: { ...cursor, limit: pageSize } })).json()
    const acks = page.map((row) => {
      const p = JSON.parse(row.properties)
      const flag = row.event === "FlagValue"
      const message = {
        userId: flag ? p.userKeyId : p.user.keyId,
        event: flag ? "Feature Flag Evaluated" : p.eventName,
        properties: flag
          ? { flagKey: p.featureFlagKey, flagId: p.flagId, variationId: p.variationId, sendToExperiment: p.sendToExperiment, envId: row.env_id }
          : { value: p.numericValue, type: row.event, envId: row.env_id },
        timestamp: new Date(`${row.ts.replace(" ", "T")}Z`),
        messageId: row.id
      }
      return new Promise((resolve, reject) => analytics.track(message, (error) => (error ? reject(error) : resolve())))
    })
    await Promise.all(acks)
    events += page.length
    if (page.length < pageSize) break
    const last = page[page.length - 1]
    cursor = { cts: last.ts, cid: last.id }
  }
  await analytics.closeAndFlush()
  return { ms: performance.now() - started, events }
}

try {
  const sink = await runSink()
  const rssBefore = process.memoryUsage().rss
  const analytics = await runAnalytics()
  const sinkRate = sink.events / (sink.ms / 1000)
  const analyticsRate = analytics.events / (analytics.ms / 1000)
  const s = await stats()
  console.log(
    JSON.stringify({
      rows,
      sink: { events: sink.events, seconds: Number((sink.ms / 1000).toFixed(2)), eventsPerSecond: Math.round(sinkRate) },
      analyticsNode: { flushAt, events: analytics.events, seconds: Number((analytics.ms / 1000).toFixed(2)), eventsPerSecond: Math.round(analyticsRate) },
      ratio: Number((sinkRate / analyticsRate).toFixed(1)),
      rssMiB: { beforeAnalytics: Math.round(rssBefore / 2 ** 20), peak: Math.round(process.resourceUsage().maxRSS / 1024) },
      receiver: { requests: s.requests, unique: s.unique, messages: s.messages, duplicates: s.duplicates }
    })
  )
} finally {
  await client.close()
  rmSync(folder, { recursive: true, force: true })
  receiver.kill("SIGTERM")
}
