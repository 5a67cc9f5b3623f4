import { EVENT_ROW_MAPPABLE, SinkError, type Sink, defineSink } from "@featbit-export/core"
import { objectRow, objectWriter, openFormat } from "@featbit-export/object-storage"
import * as Effect from "effect/Effect"
import { AzureBlobSinkConfig, accountNameOf } from "./Config.js"
import { PLUGIN } from "./Errors.js"

/**
 * `type: azure-blob`: each batch as Parquet or gzipped NDJSON objects in Hive partitions, created only when
 * complete and never over another; a retried batch finds its objects by key.
 */
export const AzureBlobSink = defineSink({
  type: PLUGIN,
  description:
    "Azure Blob Storage: Parquet (UTC microsecond timestamps) or gzipped NDJSON objects under <prefix>/env_id=.../date=.../, named from their events, created only whole (If-None-Match: *)",
  config: AzureBlobSinkConfig,
  configIssues: (config) => {
    const ways = [config.connectionString !== undefined, config.accountKey !== undefined, config.sasToken !== undefined].filter(Boolean).length
    if (ways !== 1) return [{ path: ["connectionString"], message: "give exactly one of connectionString, accountKey (with accountUrl) or sasToken (with accountUrl)" }]
    if (config.connectionString === undefined && config.accountUrl === undefined)
      return [{ path: ["accountUrl"], message: "accountKey and sasToken need accountUrl (https://<account>.blob.core.windows.net)" }]
    // A key signs each request with the account's name: without one, every write would be refused.
    if (config.accountKey !== undefined && accountNameOf(config) === undefined)
      return [
        {
          path: ["accountName"],
          message: `accountKey signs for a storage account, and accountUrl ${config.accountUrl} names none (as https://<account>.blob.core.windows.net or http://host:port/<account>); give accountName`
        }
      ]
    return []
  },
  mappable: EVENT_ROW_MAPPABLE,
  render: (config) => objectRow(config.prefix),
  make: (config) =>
    Effect.gen(function* () {
      // The Azure SDK is loaded when the sink is made, not when the runner starts (or only validates a file).
      const { containerStore, openContainer } = yield* Effect.promise(() => import("./Client.js"))
      const { checkContainer } = yield* Effect.promise(() => import("./Check.js"))
      const { container, target } = yield* Effect.try({
        try: () => openContainer(config),
        catch: (error) => SinkError.fatal(PLUGIN, `cannot use the azure-blob credentials (${(error as Error).message.split("\n")[0]}); fix connectionString or accountUrl`, error)
      })
      const format = yield* openFormat(config.format)
      const write = objectWriter({
        store: containerStore(container, target, config.requestTimeout),
        format,
        prefix: config.prefix,
        plugin: PLUGIN
      })
      return { write, check: checkContainer(container, target, config.prefix, config.requestTimeout), maxInFlight: 4 } satisfies Sink
    })
})
