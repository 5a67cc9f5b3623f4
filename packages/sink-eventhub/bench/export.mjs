// One export for throughput.mjs, in a process of its own so that its peak RSS is the export's: the generate
// source (its default 20,000 users) -> the engine (pages of `pageSize`, 4 in flight, the default retry
// policy) -> this sink -> the peer at `connectionString`. Busy waits are 50ms instead of Azure's 4s so that
// a run with refusals takes seconds, and is comparable with a clean one.
//   node export.mjs <connectionString> <events> <pageSize>   -> one JSON line on stdout
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { CheckpointStore, DeadLetter, Pipeline, defaultRetryPolicy } from "@featbit-export/core"
import { GenerateSource } from "@featbit-export/source-generate"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Schema from "effect/Schema"

const here = path.dirname(fileURLToPath(import.meta.url))
const { EventHubSink, EventHubSinkConfig } = await import(pathToFileURL(process.env["BENCH_SINK"] ?? path.join(here, "..", "dist", "index.js")).href)
const [connectionString, events, pageSize] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])]

const started = performance.now()
const summary = await Effect.runPromise(
  Effect.scoped(
    Effect.gen(function* () {
      const source = yield* GenerateSource.make(Schema.decodeUnknownSync(GenerateSource.config)({ count: events, seed: 3 }), { pipeline: "bench", baseDir: here })
      const sink = yield* EventHubSink.make(
        Schema.decodeUnknownSync(EventHubSinkConfig)({ connectionString, concurrency: 4, sdkRetryDelay: "50ms", serverBusyWait: "50ms" }),
        { pipeline: "bench", baseDir: here }
      )
      const stores = Layer.merge(Layer.succeed(CheckpointStore.CheckpointStore, CheckpointStore.makeMemory(new Map())), DeadLetter.layerMemory([]))
      return yield* Pipeline.run({
        name: "bench",
        source,
        sink,
        sourceType: "generate",
        sinkType: "eventhub",
        batchSize: pageSize,
        inFlight: 4,
        retry: defaultRetryPolicy,
        mode: "once",
        pollInterval: Duration.seconds(1)
      }).pipe(Effect.provide(stores))
    })
  ).pipe(Logger.withMinimumLogLevel(LogLevel.Error))
)
const seconds = (performance.now() - started) / 1000
process.stdout.write(
  `${JSON.stringify({
    exported: summary.exported,
    retries: summary.retries,
    seconds: Number(seconds.toFixed(2)),
    eventsPerSecond: Math.round(summary.exported / seconds),
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024)
  })}\n`
)
