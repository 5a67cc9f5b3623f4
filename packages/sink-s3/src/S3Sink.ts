import { EVENT_ROW_MAPPABLE, SinkError, type Sink, defineSink } from "@featbit-export/core"
import { objectRow, objectWriter, openFormat } from "@featbit-export/object-storage"
import * as Effect from "effect/Effect"
import { S3SinkConfig } from "./Config.js"
import { PLUGIN } from "./Errors.js"

/**
 * `type: s3`: each batch as Parquet or gzipped NDJSON objects in Hive partitions on S3 or an S3-compatible
 * store, created only when complete and never over another; a retried batch finds its objects by key.
 */
export const S3Sink = defineSink({
  type: PLUGIN,
  description:
    "Amazon S3 or an S3-compatible store (MinIO, R2): Parquet (UTC microsecond timestamps) or gzipped NDJSON objects under <prefix>/env_id=.../date=.../, named from their events, created only whole (If-None-Match: *)",
  config: S3SinkConfig,
  configIssues: (config) => {
    if ((config.accessKeyId === undefined) !== (config.secretAccessKey === undefined))
      return [{ path: [config.accessKeyId === undefined ? "accessKeyId" : "secretAccessKey"], message: "give accessKeyId and secretAccessKey together, or neither (to use the AWS credential chain)" }]
    if (config.sessionToken !== undefined && config.accessKeyId === undefined)
      return [{ path: ["sessionToken"], message: "sessionToken goes with accessKeyId and secretAccessKey" }]
    return []
  },
  mappable: EVENT_ROW_MAPPABLE,
  render: (config) => objectRow(config.prefix),
  make: (config) =>
    Effect.gen(function* () {
      // The AWS SDK is loaded when the sink is made, not when the runner starts (or only validates a file).
      const { bucketStore, openBucket } = yield* Effect.promise(() => import("./Client.js"))
      const { checkBucket } = yield* Effect.promise(() => import("./Check.js"))
      const { client, target } = yield* Effect.acquireRelease(
        Effect.try({
          try: () => openBucket(config),
          catch: (error) => SinkError.fatal(PLUGIN, `cannot use the s3 settings (${(error as Error).message.split("\n")[0]}); fix endpoint, region or the credentials`, error)
        }),
        ({ client }) => Effect.sync(() => client.destroy())
      )
      const format = yield* openFormat(config.format)
      const write = objectWriter({
        store: bucketStore(client, target, config.requestTimeout),
        format,
        prefix: config.prefix,
        plugin: PLUGIN
      })
      return { write, check: checkBucket(client, target, config.prefix, config.requestTimeout), maxInFlight: 4 } satisfies Sink
    })
})
