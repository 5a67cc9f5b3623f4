// Sink throughput into the Event Hubs test peer running in its own process, against a bare
// createBatch/tryAdd/sendBatch loop over the same events, with the same partition keys and as many sends in
// flight, to the same peer, in the same run.
//   node packages/sink-eventhub/bench/throughput.mjs [events=100000]
// Build first: npx tsc -b tsconfig.json (at the root).
import { spawn } from "node:child_process"
import { createRequire } from "node:module"
import * as path from "node:path"
import * as readline from "node:readline"
import { fileURLToPath } from "node:url"
import { EventHubProducerClient } from "@azure/event-hubs"
import { decodeFeatBitRow } from "@featbit-export/core"
import { generateRows } from "@featbit-export/source-generate"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { EventHubSink, EventHubSinkConfig, render } from "../dist/index.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
const peerCli = path.join(path.dirname(require.resolve("@featbit-export/testkit")), "eventhub", "eventHubPeerCli.js")
const count = Number(process.argv[2] ?? 100_000)
const batchSize = 5_000
const inFlight = 4
const concurrency = 4

const peer = spawn(process.execPath, [peerCli, "--partitions", "4"], { stdio: ["pipe", "pipe", "inherit"] })
const lines = readline.createInterface({ input: peer.stdout })
const nextLine = () => new Promise((resolve) => lines.once("line", (line) => resolve(JSON.parse(line))))
const { connectionString } = await nextLine()
const stats = async () => {
  const answer = nextLine()
  peer.stdin.write("stats\n")
  return answer
}

const events = [...generateRows({ count, seed: 1 })].flatMap((row) => Either.match(decodeFeatBitRow(row), { onLeft: () => [], onRight: (e) => [e] }))
const batches = []
for (let i = 0; i < events.length; i += batchSize) batches.push({ events: events.slice(i, i + batchSize), sequence: i / batchSize })

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

// The baseline: per batch, the same events grouped by the same partition key, each group filled with
// createBatch/tryAdd and sent with sendBatch, inFlight x concurrency sends at once, one producer.
const runPlain = async () => {
  const started = performance.now()
  const producer = new EventHubProducerClient(connectionString, { retryOptions })
  const toMessage = render(config)
  let sends = 0
  const sendBatchOf = async (batch) => {
    const byKey = new Map()
    for (const event of batch.events) {
      const m = toMessage(event)
      const list = byKey.get(m.partitionKey) ?? []
      byKey.set(m.partitionKey, list)
      list.push({ body: m.body, messageId: m.messageId, contentType: m.contentType, properties: m.properties })
    }
    const groups = [...byKey]
    let next = 0
    const worker = async () => {
      while (next < groups.length) {
        const [partitionKey, items] = groups[next++]
        let eventBatch = await producer.createBatch({ partitionKey })
        for (const item of items) {
          if (!eventBatch.tryAdd(item)) {
            await producer.sendBatch(eventBatch)
            sends++
            eventBatch = await producer.createBatch({ partitionKey })
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
      while (nextBatch < batches.length) await sendBatchOf(batches[nextBatch++])
    })
  )
  await producer.close()
  return [performance.now() - started, sends]
}

// Warm up both paths (JIT, links), then measure alternately.
await runPlain()
await runSink()
const rounds = []
for (let r = 0; r < 3; r++) {
  const [plainMs, sends] = await runPlain()
  const sinkMs = await runSink()
  rounds.push({ plain: events.length / (plainMs / 1000), sink: events.length / (sinkMs / 1000), sends })
}
const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const plain = median(rounds.map((r) => r.plain))
const sink = median(rounds.map((r) => r.sink))
const s = await stats()
console.log(
  JSON.stringify({
    events: events.length,
    sendsPerRun: rounds[0].sends,
    plainEventsPerSecond: Math.round(plain),
    sinkEventsPerSecond: Math.round(sink),
    ratio: Number((sink / plain).toFixed(2)),
    peer: { accepted: s.events, expected: events.length * 8, attempts: s.attempts }
  })
)
peer.kill("SIGTERM")
