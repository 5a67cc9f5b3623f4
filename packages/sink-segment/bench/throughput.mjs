// Sink throughput into the Segment receiver running in its own process, against plain /v1/batch POSTs of
// the same messages, in the same request sizes, to the same receiver, in the same run.
//   node packages/sink-segment/bench/throughput.mjs [events=200000]
// Build first: npx tsc -b tsconfig.json (at the root).
import { spawn } from "node:child_process"
import { createRequire } from "node:module"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { decodeFeatBitRow } from "@featbit-export/core"
import { generateRows } from "@featbit-export/source-generate"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { SegmentSink, SegmentSinkConfig, chunk, renderTrack } from "../dist/index.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
const receiverCli = path.join(path.dirname(require.resolve("@featbit-export/testkit")), "segmentReceiverCli.js")
const WRITE_KEY = "bench-key"
const count = Number(process.argv[2] ?? 200_000)
const batchSize = 5_000
const inFlight = 4
const concurrency = 4

const receiver = spawn(process.execPath, [receiverCli, "--write-key", WRITE_KEY], { stdio: ["ignore", "pipe", "inherit"] })
const url = await new Promise((resolve) => receiver.stdout.once("data", (chunk) => resolve(JSON.parse(String(chunk)).url)))
const stats = async () => (await fetch(`${url}/stats`)).json()

const events = [...generateRows({ count, seed: 1 })].flatMap((row) => Either.match(decodeFeatBitRow(row), { onLeft: () => [], onRight: (e) => [e] }))
const batches = []
for (let i = 0; i < events.length; i += batchSize) batches.push({ events: events.slice(i, i + batchSize), sequence: i / batchSize })

const config = Schema.decodeUnknownSync(SegmentSinkConfig)({ writeKey: WRITE_KEY, endpoint: url, identify: false, concurrency })

const runSink = async () => {
  const started = performance.now()
  await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const sink = yield* SegmentSink.make(config, { pipeline: "bench", baseDir: here })
        yield* Effect.forEach(batches, (batch) => sink.write(batch), { concurrency: inFlight, discard: true })
      })
    )
  )
  return performance.now() - started
}

// The baseline: the same messages, chunked the same way, each body built and POSTed with fetch, with as
// many requests in flight as the sink may have (inFlight x concurrency).
const runPlain = async () => {
  const auth = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString("base64")}`
  const started = performance.now()
  const requests = batches.flatMap((batch) =>
    chunk(
      batch.events.map((event) => {
        const json = JSON.stringify(renderTrack(config, event))
        return { json, bytes: Buffer.byteLength(json) }
      }),
      config.maxEventsPerRequest,
      config.maxBytesPerRequest
    )
  )
  let next = 0
  const worker = async () => {
    while (next < requests.length) {
      const items = requests[next++]
      const body = `{"batch":[${items.map((i) => i.json).join(",")}],"sentAt":"${new Date().toISOString()}"}`
      const response = await fetch(`${url}/v1/batch`, { method: "POST", headers: { authorization: auth, "content-type": "application/json" }, body })
      if (response.status !== 200) throw new Error(`HTTP ${response.status}`)
      await response.text()
    }
  }
  await Promise.all(Array.from({ length: inFlight * concurrency }, worker))
  return [performance.now() - started, requests.length]
}

// Warm up both paths (JIT, connections), then measure alternately.
await runPlain()
await runSink()
const rounds = []
for (let r = 0; r < 3; r++) {
  const [plainMs, requests] = await runPlain()
  const sinkMs = await runSink()
  rounds.push({ plain: events.length / (plainMs / 1000), sink: events.length / (sinkMs / 1000), requests })
}
const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const plain = median(rounds.map((r) => r.plain))
const sink = median(rounds.map((r) => r.sink))
const s = await stats()
console.log(
  JSON.stringify({
    events: events.length,
    requestsPerRun: rounds[0].requests,
    plainEventsPerSecond: Math.round(plain),
    sinkEventsPerSecond: Math.round(sink),
    ratio: Number((sink / plain).toFixed(2)),
    receiver: { requests: s.requests, unique: s.unique, messages: s.messages }
  })
)
receiver.kill("SIGTERM")
