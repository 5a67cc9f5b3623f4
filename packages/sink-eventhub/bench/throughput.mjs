// Sink throughput into the Event Hubs test peer running in its own process, against a bare loop that sends
// the same events in the same per-partition batches (createBatch({ partitionId }) / tryAdd / sendBatch) to
// the same peer, in the same run, median of 3 rounds, alternating. Then the whole export (generate source ->
// engine -> sink) of `exportEvents` events, in a child process of its own (for its peak RSS), clean and with
// a quarter of the sends refused as busy.
//   node packages/sink-eventhub/bench/throughput.mjs [events=100000] [exportEvents=200000] [exportRounds=1]
// Build first: npx tsc -b tsconfig.json (at the root).
import { spawn } from "node:child_process"
import { createRequire } from "node:module"
import * as path from "node:path"
import * as readline from "node:readline"
import { fileURLToPath, pathToFileURL } from "node:url"
import { EventHubProducerClient } from "@azure/event-hubs"
import { decodeFeatBitRow, isFlagValue } from "@featbit-export/core"
import { generateRows } from "@featbit-export/source-generate"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"

const here = path.dirname(fileURLToPath(import.meta.url))
// BENCH_SINK points the bench at another build of the sink (to compare with an older one); default: this one.
const sinkModule = process.env["BENCH_SINK"] ?? path.join(here, "..", "dist", "index.js")
const { EventHubSink, EventHubSinkConfig } = await import(pathToFileURL(sinkModule).href)
const require = createRequire(import.meta.url)
const peerCli = path.join(path.dirname(require.resolve("@featbit-export/testkit")), "eventhub", "eventHubPeerCli.js")
// The SDK's own key -> partition mapping (what its buffered producer uses), for the bare loop.
const sdkDir = path.dirname(require.resolve("@azure/event-hubs/package.json"))
const { mapPartitionKeyToId } = await import(pathToFileURL(path.join(sdkDir, "dist", "esm", "impl", "partitionKeyToIdMapper.js")).href)

const count = Number(process.argv[2] ?? 100_000)
const exportEvents = Number(process.argv[3] ?? 200_000)
const exportRounds = Number(process.argv[4] ?? 1)
const pageSize = 10_000
const inFlight = 4
const concurrency = 4
const partitions = 4

const peer = spawn(process.execPath, [peerCli, "--partitions", String(partitions)], { stdio: ["pipe", "pipe", "inherit"] })
const lines = readline.createInterface({ input: peer.stdout })
const nextLine = () => new Promise((resolve) => lines.once("line", (line) => resolve(JSON.parse(line))))
const { connectionString } = await nextLine()
const ask = async (command) => {
  const answer = nextLine()
  peer.stdin.write(`${command}\n`)
  return answer
}

const events = [...generateRows({ count, seed: 1 })].flatMap((row) => Either.match(decodeFeatBitRow(row), { onLeft: () => [], onRight: (e) => [e] }))
const batches = []
for (let i = 0; i < events.length; i += pageSize) batches.push({ events: events.slice(i, i + pageSize), sequence: i / pageSize })
const distinctUsers = new Set(events.map((e) => e.user.keyId)).size
const usersPerPage = Math.round(batches.reduce((n, b) => n + new Set(b.events.map((e) => e.user.keyId)).size, 0) / batches.length)

const config = Schema.decodeUnknownSync(EventHubSinkConfig)({ connectionString, concurrency, sdkRetryDelay: "50ms" })
const retryOptions = { maxRetries: 1, retryDelayInMs: 50, timeoutInMs: 30_000 }

const runSink = async () => {
  const started = performance.now()
  await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const sink = yield* EventHubSink.make(config, { pipeline: "bench", baseDir: here })
        yield* Effect.forEach(batches, (batch) => sink.write(batch), { concurrency: inFlight, discard: true })
      })
    )
  )
  return performance.now() - started
}

// The baseline: per page, the same messages, grouped by the SDK's own partition of their user key, each
// partition's events packed with createBatch({ partitionId })/tryAdd and sent one batch after another,
// `concurrency` partitions at once, `inFlight` pages at once, one producer. It keeps no order between pages.
const runPlain = async () => {
  const started = performance.now()
  const producer = new EventHubProducerClient(connectionString, { retryOptions })
  const ids = await producer.getPartitionIds()
  let sends = 0
  const sendPage = async (batch) => {
    const byPartition = new Map()
    for (const event of batch.events) {
      const partitionId = ids[mapPartitionKeyToId(event.user.keyId, ids.length)]
      const list = byPartition.get(partitionId) ?? []
      byPartition.set(partitionId, list)
      list.push({
        body: { schemaVersion: 1, ...event },
        messageId: event.id,
        contentType: "application/json",
        properties: isFlagValue(event)
          ? { event: event.event, envId: event.envId, flagKey: event.flagKey, partitionKey: event.user.keyId }
          : { event: event.event, envId: event.envId, eventName: event.eventName, partitionKey: event.user.keyId }
      })
    }
    const groups = [...byPartition]
    let next = 0
    const worker = async () => {
      while (next < groups.length) {
        const [partitionId, items] = groups[next++]
        let eventBatch = await producer.createBatch({ partitionId })
        for (const item of items) {
          if (!eventBatch.tryAdd(item)) {
            await producer.sendBatch(eventBatch)
            sends++
            eventBatch = await producer.createBatch({ partitionId })
            eventBatch.tryAdd(item)
          }
        }
        await producer.sendBatch(eventBatch)
        sends++
      }
    }
    await Promise.all(Array.from({ length: concurrency }, worker))
  }
  let nextBatch = 0
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (nextBatch < batches.length) await sendPage(batches[nextBatch++])
    })
  )
  await producer.close()
  return [performance.now() - started, sends]
}

const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]

// Warm up both paths (JIT, links), then measure alternately.
await runPlain()
await runSink()
const rounds = []
for (let r = 0; r < 3; r++) {
  const [plainMs, plainSends] = await runPlain()
  const before = await ask("stats")
  const sinkMs = await runSink()
  const after = await ask("stats")
  rounds.push({ plain: events.length / (plainMs / 1000), sink: events.length / (sinkMs / 1000), plainSends, sinkSends: after.transfers - before.transfers })
}
const plain = median(rounds.map((r) => r.plain))
const sink = median(rounds.map((r) => r.sink))

// The export, each run in its own process so that its peak RSS is its own.
const exportChild = path.join(here, "export.mjs")
const runExport = async (busy) => {
  await ask(busy ? "busy-every 4" : "clear")
  const before = await ask("stats")
  const child = spawn(process.execPath, [exportChild, connectionString, String(exportEvents), String(pageSize)], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, BENCH_SINK: sinkModule }
  })
  let out = ""
  child.stdout.on("data", (chunk) => (out += chunk))
  await new Promise((resolve) => child.once("exit", resolve))
  const after = await ask("stats")
  await ask("clear")
  const result = JSON.parse(out.trim().split("\n").at(-1))
  return { ...result, attempts: after.attempts - before.attempts, sends: after.transfers - before.transfers, accepted: after.events - before.events }
}
const exports = []
for (let r = 0; r < exportRounds; r++) exports.push({ clean: await runExport(false), busy: await runExport(true) })
const clean = exports.map((e) => e.clean)
const busy = exports.map((e) => e.busy)
const pick = (runs) => runs.slice().sort((a, b) => a.seconds - b.seconds)[Math.floor(runs.length / 2)]

console.log(
  JSON.stringify({
    events: events.length,
    pageSize,
    partitions,
    distinctUsers,
    usersPerPage,
    sinkSendsPerPage: Number((median(rounds.map((r) => r.sinkSends)) / batches.length).toFixed(1)),
    bareSendsPerPage: Number((rounds[0].plainSends / batches.length).toFixed(1)),
    bareEventsPerSecond: Math.round(plain),
    sinkEventsPerSecond: Math.round(sink),
    ratio: Number((sink / plain).toFixed(2)),
    export: {
      events: exportEvents,
      serverBusyWait: "50ms",
      clean: pick(clean),
      busyQuarter: pick(busy),
      busyOverClean: Number((pick(busy).seconds / pick(clean).seconds).toFixed(2))
    }
  })
)
peer.kill("SIGTERM")
