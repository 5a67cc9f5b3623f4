// Sink throughput into the Mixpanel receiver running in its own process, against bare /import?strict=1 POSTs
// of the same events, in the same requests, gzipped at the same level, to the same receiver, in the same run.
// The bare posts render, join, gzip and send inside their timer as the sink does, so the ratio is the sink's
// own overhead. Exits 1 under 0.5 or when the receiver did not get every event.
//   node packages/sink-mixpanel/bench/throughput.mjs [events=200000]
// Build first: npx tsc -b packages/testkit packages/sink-mixpanel (at the root).
import { createRequire } from "node:module"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import * as zlib from "node:zlib"
import { barePosts, benchBatches, requestGroups, runHttpSinkBench, startReceiverCli, writeBatches } from "@featbit-export/testkit/http-bench"
import * as Schema from "effect/Schema"
import { GZIP_LEVEL, MixpanelSink, MixpanelSinkConfig, renderEvent } from "../dist/index.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
const receiverCli = path.join(path.dirname(require.resolve("@featbit-export/testkit")), "mixpanel", "mixpanelReceiverCli.js")
const SECRET = "bench-project-secret"
const count = Number(process.argv[2] ?? 200_000)
const batchSize = 5_000
const inFlight = 4
const gzip = promisify(zlib.gzip)

// The Mixpanel receiver CLI counts events and never keeps them.
const receiver = await startReceiverCli(receiverCli, ["--secret", SECRET])

// Production-shaped: starting an hour ago, spread over 50 minutes (see benchBatches).
const { events, batches } = benchBatches(count, batchSize)

const config = Schema.decodeUnknownSync(MixpanelSinkConfig)({ projectSecret: SECRET, endpoint: receiver.url })

// What MixpanelSink.ts sends: a JSON array, the secret as the Basic username, gzip at GZIP_LEVEL.
const url = `${receiver.url}/import?strict=1`
const headers = {
  "content-type": "application/json",
  accept: "application/json",
  authorization: `Basic ${Buffer.from(`${SECRET}:`).toString("base64")}`,
  ...(config.gzip ? { "content-encoding": "gzip" } : {})
}
const ENVELOPE_BYTES = 2
// The sink's requests, grouped once before any timer: each bare post renders and gzips its own events when
// its turn comes, as the sink renders a batch when it writes it, so both overlap that with the receiver's work.
const requests = requestGroups(batches, (event) => JSON.stringify(renderEvent(config, event)), {
  maxEventsPerRequest: config.maxEventsPerRequest,
  maxBytesPerRequest: config.maxBytesPerRequest,
  envelopeBytes: ENVELOPE_BYTES
})
const bodyOf = async (group) => {
  const body = `[${group.map((event) => JSON.stringify(renderEvent(config, event))).join(",")}]`
  return config.gzip ? gzip(body, { level: GZIP_LEVEL }) : body
}

await runHttpSinkBench({
  name: "sink-mixpanel throughput",
  receiver,
  events: events.length,
  requestsPerRun: requests.length,
  rounds: 5,
  sink: () => writeBatches(MixpanelSink, config, batches, { inFlight, baseDir: here }),
  // As many requests in flight as the sink may have: inFlight batches x concurrency requests each.
  plain: () => barePosts(requests, async (group) => ({ url, headers, body: await bodyOf(group) }), { inFlight: inFlight * config.concurrency }),
  received: (stats) => stats.imported,
  unique: (stats) => stats.unique,
  extra: { batchSize, inFlight, concurrency: config.concurrency, maxEventsPerRequest: config.maxEventsPerRequest, gzipLevel: config.gzip ? GZIP_LEVEL : undefined }
})
