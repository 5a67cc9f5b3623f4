// Sink throughput into the PostHog capture receiver running in its own process, against bare /batch/ POSTs
// of the same events, in the same requests, gzipped at the same level, to the same receiver, in the same run.
// The bare posts render, join, gzip and send inside their timer as the sink does, so the ratio is the sink's
// own overhead. Exits 1 under 0.5 or when the receiver did not get every event.
//   node packages/sink-posthog/bench/throughput.mjs [events=200000]
// Build first: npx tsc -b packages/testkit packages/sink-posthog (at the root).
import { createRequire } from "node:module"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import * as zlib from "node:zlib"
import { barePosts, benchBatches, requestGroups, runHttpSinkBench, startReceiverCli, writeBatches } from "@featbit-export/testkit/http-bench"
import * as Schema from "effect/Schema"
import { PostHogSink, PostHogSinkConfig, renderEvent } from "../dist/index.js"
import { version } from "../dist/version.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
const receiverCli = path.join(path.dirname(require.resolve("@featbit-export/testkit")), "posthog", "posthogReceiverCli.js")
const API_KEY = "phc_bench"
const count = Number(process.argv[2] ?? 200_000)
const batchSize = 5_000
const inFlight = 4
const gzip = promisify(zlib.gzip)

// Without --keep-rows it keeps the dedupe keys and counts only.
const receiver = await startReceiverCli(receiverCli, ["--api-key", API_KEY])

// Production-shaped: starting an hour ago, spread over 50 minutes (see benchBatches).
const { events, batches } = benchBatches(count, batchSize)

const config = Schema.decodeUnknownSync(PostHogSinkConfig)({ apiKey: API_KEY, host: receiver.url })

// What PostHogSink.ts sends: the key in the body, no sent_at, its user agent, gzip at level 1.
const url = `${receiver.url}/batch/`
const head = `{"api_key":${JSON.stringify(API_KEY)},"batch":[`
const tail = "]}"
const headers = {
  "content-type": "application/json",
  "user-agent": `featbit-export-sink-posthog/${version}`,
  ...(config.gzip ? { "content-encoding": "gzip" } : {})
}
// The sink's requests, grouped once before any timer: each bare post renders and gzips its own events when
// its turn comes, as the sink renders a batch when it writes it, so both overlap that with the receiver's work.
const requests = requestGroups(batches, (event) => JSON.stringify(renderEvent(config, event)), {
  maxEventsPerRequest: config.maxEventsPerRequest,
  maxBytesPerRequest: config.maxBytesPerRequest,
  envelopeBytes: Buffer.byteLength(head) + tail.length
})
const bodyOf = async (group) => {
  const body = head + group.map((event) => JSON.stringify(renderEvent(config, event))).join(",") + tail
  return config.gzip ? gzip(body, { level: 1 }) : body
}

await runHttpSinkBench({
  name: "sink-posthog throughput",
  receiver,
  events: events.length,
  requestsPerRun: requests.length,
  rounds: 5,
  sink: () => writeBatches(PostHogSink, config, batches, { inFlight, baseDir: here }),
  // As many requests in flight as the sink may have: inFlight batches x concurrency requests each.
  plain: () => barePosts(requests, async (group) => ({ url, headers, body: await bodyOf(group) }), { inFlight: inFlight * config.concurrency }),
  received: (stats) => stats.rawRows,
  unique: (stats) => stats.uniqueUuids,
  extra: { batchSize, inFlight, concurrency: config.concurrency, maxEventsPerRequest: config.maxEventsPerRequest, gzipLevel: config.gzip ? 1 : undefined }
})
