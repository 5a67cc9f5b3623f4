import { DurationSetting, PositiveInt } from "@featbit-export/core"
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"

/** The keys of a `type: eventhub` sink in a pipeline file. */
export const EventHubSinkConfig = Schema.Struct({
  connectionString: Schema.optionalWith(
    Schema.Redacted(Schema.String).annotations({
      description:
        "The Event Hubs connection string (use ${EVENTHUB_CONNECTION_STRING}); with EntityPath=<hub> or with `hub`; UseDevelopmentEmulator=true for the emulator; never printed"
    }),
    { exact: true }
  ),
  namespace: Schema.optionalWith(
    Schema.String.annotations({ description: 'The namespace ("my-ns" or "my-ns.servicebus.windows.net"), instead of connectionString' }),
    { exact: true }
  ),
  hub: Schema.optionalWith(Schema.String.annotations({ description: "The event hub's name, when the connection string has no EntityPath" }), {
    exact: true
  }),
  sasKeyName: Schema.optionalWith(Schema.String.annotations({ description: "The shared access policy's name (with namespace)" }), { exact: true }),
  sasKey: Schema.optionalWith(
    Schema.Redacted(Schema.String).annotations({ description: "The shared access policy's key (with namespace; use ${EVENTHUB_SAS_KEY}); never printed" }),
    { exact: true }
  ),
  partitionKey: Schema.optionalWith(
    Schema.String.annotations({
      description:
        'How events are partitioned: "user" (the FeatBit user key, the default: one user\'s events stay in order), "none" (round robin) or a field of the event ("envId", "flagKey", ...)'
    }),
    { default: () => "user", exact: true }
  ),
  concurrency: Schema.optionalWith(PositiveInt, { default: () => 4, exact: true }).annotations({
    description: "Partitions sent to at once (default 4); each partition's batches go one after another, in cursor order"
  }),
  requestTimeout: Schema.optionalWith(DurationSetting, { default: () => Duration.seconds(30), exact: true }).annotations({
    description: "How long one AMQP operation may take before it counts as failed (default 30s)"
  }),
  sdkMaxRetries: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 3)), { default: () => 1, exact: true }).annotations({
    description: "Retries inside the Azure SDK before the pipeline's own retry policy takes over (0-3, default 1)"
  }),
  sdkRetryDelay: Schema.optionalWith(DurationSetting, { default: () => Duration.millis(500), exact: true }).annotations({
    description: "The Azure SDK's delay between its own retries (default 500ms)"
  }),
  serverBusyWait: Schema.optionalWith(DurationSetting, { default: () => Duration.seconds(4), exact: true }).annotations({
    description: "How long to wait after Event Hubs says it is busy (default 4s, as Azure asks)"
  })
})
export type EventHubSinkConfig = typeof EventHubSinkConfig.Type
