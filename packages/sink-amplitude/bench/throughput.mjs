// Sink throughput into the Amplitude receiver running in its own process, against bare /2/httpapi POSTs of
// the same events, in the same requests, to the same receiver, in the same run. The bare posts render, join
// and send inside their timer as the sink does, so the ratio is the sink's own overhead. Exits 1 under 0.5
// or when the receiver did not get every event.
//   node packages/sink-amplitude/bench/throughput.mjs [events=200000]
// Build first: npx tsc -b packages/testkit packages/sink-amplitude (at the root).
import { createRequire } from "node:module"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { barePosts, benchBatches, requestGroups, runHttpSinkBench, startReceiverCli, writeBatches } from "@featbit-export/testkit/http-bench"
import * as Schema from "effect/Schema"
import { AmplitudeSink, AmplitudeSinkConfig, maxBytesOf, renderEvent, resolveUrl } from "../dist/index.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
const receiverCli = path.join(path.dirname(require.resolve("@featbit-export/testkit")), "amplitude", "amplitudeReceiverCli.js")
const API_KEY = "bench-api-key"
const count = Number(process.argv[2] ?? 200_000)
const batchSize = 5_000
const inFlight = 4

// Without --keep-events it keeps the dedupe keys and counts only.
const receiver = await startReceiverCli(receiverCli, ["--api-key", API_KEY])

// Production-shaped: starting an hour ago, spread over 50 minutes (see benchBatches).
const { events, batches } = benchBatches(count, batchSize)

const config = Schema.decodeUnknownSync(AmplitudeSinkConfig)({ apiKey: API_KEY, endpoint: receiver.url })

// The sink's envelope (AmplitudeSink.ts): the key in the body, and a min_id_length that FeatBit's short keys need.
const url = resolveUrl(config)
const head = `{"api_key":${JSON.stringify(API_KEY)},"events":[`
const tail = `],"options":{"min_id_length":1}}`
const headers = { "content-type": "application/json" }
// The sink's requests, grouped once before any timer: each bare post renders its own events when its turn
// comes, as the sink renders a batch when it writes it, so both overlap rendering with the receiver's work.
const requests = requestGroups(batches, (event) => JSON.stringify(renderEvent(config, event)), {
  maxEventsPerRequest: config.maxEventsPerRequest,
  maxBytesPerRequest: maxBytesOf(config),
  envelopeBytes: Buffer.byteLength(head) + Buffer.byteLength(tail)
})
const bodyOf = (group) => head + group.map((event) => JSON.stringify(renderEvent(config, event))).join(",") + tail

await runHttpSinkBench({
  name: "sink-amplitude throughput",
  receiver,
  events: events.length,
  requestsPerRun: requests.length,
  rounds: 5,
  sink: () => writeBatches(AmplitudeSink, config, batches, { inFlight, baseDir: here }),
  // As many requests in flight as the sink may have: inFlight batches x concurrency requests each.
  plain: () => barePosts(requests, (group) => ({ url, headers, body: bodyOf(group) }), { inFlight: inFlight * config.concurrency }),
  received: (stats) => stats.received,
  unique: (stats) => stats.stored,
  extra: { batchSize, inFlight, concurrency: config.concurrency, maxEventsPerRequest: config.maxEventsPerRequest }
})
