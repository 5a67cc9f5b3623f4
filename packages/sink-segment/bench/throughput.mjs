// Sink throughput into the Segment receiver running in its own process, against plain /v1/batch POSTs of
// the same messages, in the same request sizes, to the same receiver, in the same run.
//   node packages/sink-segment/bench/throughput.mjs [events=200000] [--baseline DIR]
// --baseline DIR also runs the sink of another build (a copy of an older dist/ that can resolve this
// package's dependencies, e.g. with a node_modules symlink to packages/sink-segment/node_modules) in the
// same rounds, so before and after are measured on the same machine load.
// Build first: npx tsc -b tsconfig.json (at the root).
import { spawn } from "node:child_process"
import { createRequire } from "node:module"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
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
const args = process.argv.slice(2)
const at = args.indexOf("--baseline")
const baselineDir = at === -1 ? undefined : path.resolve(args.splice(at, 2)[1])
const baseline = baselineDir === undefined ? undefined : await import(pathToFileURL(path.join(baselineDir, "index.js")).href)
const count = Number(args[0] ?? 200_000)
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

const runSink = async (plugin = SegmentSink) => {
  const started = performance.now()
  await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const sink = yield* plugin.make(config, { pipeline: "bench", baseDir: here })
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

// Warm up every path (JIT, connections), then measure them in turn, starting each round with another one.
let requests = 0
const plain = async () => {
  const [ms, count] = await runPlain()
  requests = count
  return ms
}
const paths = [["plain", plain], ["sink", () => runSink()]]
if (baseline !== undefined) paths.push(["baseline", () => runSink(baseline.SegmentSink)])
for (const [, measure] of paths) await measure()
const rounds = []
for (let r = 0; r < 3; r++) {
  const round = {}
  for (let i = 0; i < paths.length; i++) {
    const [name, measure] = paths[(r + i) % paths.length]
    round[name] = events.length / ((await measure()) / 1000)
  }
  rounds.push(round)
}
const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const rate = (name) => median(rounds.map((round) => round[name]))
const s = await stats()
console.log(
  JSON.stringify({
    events: events.length,
    requestsPerRun: requests,
    plainEventsPerSecond: Math.round(rate("plain")),
    sinkEventsPerSecond: Math.round(rate("sink")),
    ratio: Number((rate("sink") / rate("plain")).toFixed(2)),
    ...(baseline === undefined
      ? {}
      : {
          baseline: baselineDir,
          baselineEventsPerSecond: Math.round(rate("baseline")),
          baselineRatio: Number((rate("baseline") / rate("plain")).toFixed(2)),
          sinkOverBaseline: Number((rate("sink") / rate("baseline")).toFixed(2))
        }),
    rounds: rounds.map((round) => Object.fromEntries(Object.entries(round).map(([name, value]) => [name, Math.round(value)]))),
    receiver: { requests: s.requests, unique: s.unique, messages: s.messages }
  })
)
receiver.kill("SIGTERM")
