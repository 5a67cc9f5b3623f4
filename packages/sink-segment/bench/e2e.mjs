// End to end: embedded ClickHouse (chDB) -> clickhouse source -> engine -> sink-segment -> receiver (own
// process), against a script that reads the same rows from the same chDB with @clickhouse/client and calls
// @segment/analytics-node's analytics.track() per event, awaiting each event's callback page by page (an
// exporter must know what was delivered before it moves its cursor).
//   node packages/sink-segment/bench/e2e.mjs [rows=100000] [flushAt=15] [--baseline DIR]
// It also times the same pipeline with a sink that acknowledges at once (the bare read), and, with
// --baseline DIR (a copy of an older dist/ that resolves this package's dependencies), that build's sink
// in the same run, alternating with this one.
// Build first: npx tsc -b tsconfig.json (at the root).
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { ClickHouseLogLevel, createClient } from "@clickhouse/client"
import { ClickHouseSource, createFeatBitEventsTable, insertFeatBitRows } from "@featbit-export/source-clickhouse"
import { generateRows } from "@featbit-export/source-generate"
import { CheckpointStore, DeadLetter, Pipeline, accepted, defaultRetryPolicy } from "@featbit-export/core"
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
const args = process.argv.slice(2)
const at = args.indexOf("--baseline")
const baselineDir = at === -1 ? undefined : path.resolve(args.splice(at, 2)[1])
const baseline = baselineDir === undefined ? undefined : await import(pathToFileURL(path.join(baselineDir, "index.js")).href)
const rows = Number(args[0] ?? 100_000)
const flushAt = Number(args[1] ?? 15)
const pageSize = 5_000

const receiver = spawn(process.execPath, [receiverCli, "--write-key", WRITE_KEY], { stdio: ["ignore", "pipe", "inherit"] })
const url = await new Promise((resolve) => receiver.stdout.once("data", (chunk) => resolve(JSON.parse(String(chunk)).url)))
const stats = async () => (await fetch(`${url}/stats`)).json()

const folder = mkdtempSync(path.join(tmpdir(), "featbit-export-segment-bench-"))
const client = createClient({ connection: createChdbConnection({ path: folder }), log: { level: ClickHouseLogLevel.OFF } })
await createFeatBitEventsTable(client, { database: "featbit" })
await insertFeatBitRows(client, generateRows({ count: rows, seed: 1 }), { database: "featbit" })

// The bare read: the same source and engine, and a sink that acknowledges every batch at once.
const bareSink = { make: () => Effect.succeed({ write: () => Effect.succeed(accepted) }) }

/** The receiver's CPU time so far in ms (Linux), to show what the destination's double costs these two cores. */
const receiverCpuMs = () => {
  try {
    const fields = readFileSync(`/proc/${receiver.pid}/stat`, "utf8").split(") ")[1].split(" ")
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100
  } catch {
    return Number.NaN
  }
}

const runSink = async (plugin = SegmentSink) => {
  const cpu = process.cpuUsage()
  const receiverCpu = receiverCpuMs()
  const started = performance.now()
  const summary = await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const source = yield* ClickHouseSource.make(
          Schema.decodeUnknownSync(ClickHouseSource.config)({ url: `chdb:${folder}`, database: "featbit", lag: 0, batchSize: pageSize }),
          { pipeline: "bench", baseDir: folder }
        )
        const sink = yield* plugin.make(Schema.decodeUnknownSync(SegmentSinkConfig)({ writeKey: WRITE_KEY, endpoint: url }), {
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
  const used = process.cpuUsage(cpu)
  return { ms: performance.now() - started, events: summary.exported, cpuMs: (used.user + used.system) / 1000, receiverCpuMs: receiverCpuMs() - receiverCpu }
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

const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const rate = (run) => run.events / (run.ms / 1000)
// This process's CPU (the source, the engine and the sink; not the receiver's) per event: steadier than
// the rate on a machine whose cores are shared.
const cpuPerEvent = (list, key = "cpuMs") => Number(median(list.map((run) => (run[key] * 1000) / run.events)).toFixed(1))
try {
  // Warm up, then three rounds of each pipeline, starting each round with another one.
  const paths = [["sink", () => runSink()], ["bareRead", () => runSink(bareSink)]]
  if (baseline !== undefined) paths.push(["baseline", () => runSink(baseline.SegmentSink)])
  for (const [, measure] of paths) await measure()
  const runs = Object.fromEntries(paths.map(([name]) => [name, []]))
  for (let r = 0; r < 3; r++) {
    for (let i = 0; i < paths.length; i++) {
      const [name, measure] = paths[(r + i) % paths.length]
      runs[name].push(await measure())
    }
  }
  const sinkRate = median(runs.sink.map(rate))
  const readRate = median(runs.bareRead.map(rate))
  const baselineRate = baseline === undefined ? undefined : median(runs.baseline.map(rate))
  const rssBefore = process.memoryUsage().rss
  const analytics = await runAnalytics()
  const analyticsRate = rate(analytics)
  const s = await stats()
  console.log(
    JSON.stringify({
      rows,
      sink: {
        events: runs.sink[0].events,
        eventsPerSecond: Math.round(sinkRate),
        rounds: runs.sink.map((run) => Math.round(rate(run))),
        cpuMicrosPerEvent: cpuPerEvent(runs.sink),
        receiverCpuMicrosPerEvent: cpuPerEvent(runs.sink, "receiverCpuMs")
      },
      bareRead: { eventsPerSecond: Math.round(readRate), rounds: runs.bareRead.map((run) => Math.round(rate(run))), cpuMicrosPerEvent: cpuPerEvent(runs.bareRead) },
      sinkOverBareRead: Number((sinkRate / readRate).toFixed(2)),
      ...(baselineRate === undefined
        ? {}
        : {
            baseline: {
              dir: baselineDir,
              eventsPerSecond: Math.round(baselineRate),
              rounds: runs.baseline.map((run) => Math.round(rate(run))),
              cpuMicrosPerEvent: cpuPerEvent(runs.baseline)
            },
            baselineOverBareRead: Number((baselineRate / readRate).toFixed(2)),
            sinkOverBaseline: Number((sinkRate / baselineRate).toFixed(2))
          }),
      analyticsNode: { flushAt, events: analytics.events, seconds: Number((analytics.ms / 1000).toFixed(2)), eventsPerSecond: Math.round(analyticsRate) },
      ratio: Number((sinkRate / analyticsRate).toFixed(1)),
      ...(baselineRate === undefined ? {} : { baselineRatio: Number((baselineRate / analyticsRate).toFixed(1)) }),
      rssMiB: { beforeAnalytics: Math.round(rssBefore / 2 ** 20), peak: Math.round(process.resourceUsage().maxRSS / 1024) },
      receiver: { requests: s.requests, unique: s.unique, messages: s.messages, duplicates: s.duplicates }
    })
  )
} finally {
  await client.close()
  rmSync(folder, { recursive: true, force: true })
  receiver.kill("SIGTERM")
}
