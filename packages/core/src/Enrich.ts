import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { SourceError } from "./Errors.js"
import type { ExportEvent } from "./Event.js"
import { DurationSetting } from "./Settings.js"

/**
 * Enrichment: before the transform step, each flag evaluation gains what FeatBit knows of its flag at export
 * time: `flagName`, `variationName` and `variationValue` (typed by the flag's variation type). The engine runs
 * it on each page as it is read; a failure to reach the catalogue is a `SourceError` (transient: the page is
 * read again after a backoff; fatal: the pipeline stops), so no page goes out half enriched.
 */
export interface EventEnricher {
  readonly enrich: (events: ReadonlyArray<ExportEvent>) => Effect.Effect<ReadonlyArray<ExportEvent>, SourceError>
}

const secret = Schema.Redacted(Schema.String)

/** FeatBit's own PostgreSQL (its `feature_flags` table). */
export const PostgresFlags = Schema.Struct({
  type: Schema.Literal("postgres"),
  url: secret.annotations({ description: "FeatBit's PostgreSQL, e.g. postgres://reader:${PG_PASSWORD}@db:5432/featbit (never printed)" }),
  schema: Schema.optionalWith(Schema.String, { default: () => "public", exact: true })
}).annotations({ title: "flags from FeatBit's PostgreSQL" })

/** FeatBit's evaluation server, as a server SDK reads it (`/api/public/sdk/server/latest-all`). */
export const EvaluationServerFlags = Schema.Struct({
  type: Schema.Literal("evaluation-server"),
  url: Schema.String.annotations({ description: "The evaluation server's base URL, e.g. http://featbit-evaluation-server:5100" }),
  secrets: Schema.Record({ key: Schema.String, value: secret }).annotations({
    description: "Each environment's server secret, by environment id (never printed)"
  })
}).annotations({ title: "flags from FeatBit's evaluation server" })

/** FeatBit's Open API (the API server), with an access token. */
export const OpenApiFlags = Schema.Struct({
  type: Schema.Literal("open-api"),
  url: Schema.String.annotations({ description: "FeatBit's API server, e.g. http://featbit-api-server:5000" }),
  token: secret.annotations({ description: "An access token (api-...) allowed to read the environments' flags (never printed)" })
}).annotations({ title: "flags from FeatBit's Open API" })

/** FeatBit Standard's own MongoDB (its `FeatureFlags` collection). */
export const MongoFlags = Schema.Struct({
  type: Schema.Literal("mongo"),
  url: secret.annotations({ description: "FeatBit's MongoDB, e.g. ${MONGO_URL} for mongodb://reader:password@mongo:27017/?authSource=admin (never printed)" }),
  database: Schema.optionalWith(Schema.String.pipe(Schema.minLength(1)), { default: () => "featbit", exact: true }).annotations({ description: "FeatBit's database (default featbit)" }),
  collection: Schema.optionalWith(Schema.String.pipe(Schema.minLength(1)), { default: () => "FeatureFlags", exact: true }).annotations({
    description: "The flags' collection (default FeatureFlags)"
  })
}).annotations({ title: "flags from FeatBit's MongoDB" })

export const FlagCatalogueSetting = Schema.Union(PostgresFlags, MongoFlags, EvaluationServerFlags, OpenApiFlags)
export type FlagCatalogueSetting = typeof FlagCatalogueSetting.Type

/** `enrich:` of a pipeline. */
export const EnrichSetting = Schema.Struct({
  flags: FlagCatalogueSetting,
  refresh: Schema.optionalWith(DurationSetting, { default: () => Duration.minutes(1), exact: true }).annotations({
    description: "How often each environment's flags are read again (default 1m); an unknown flag or variation is looked up again sooner, at most once per refresh per flag"
  }),
  required: Schema.optionalWith(Schema.Boolean, { default: () => true, exact: true }).annotations({
    description: "true (default): while the catalogue cannot be reached the pipeline waits and retries; false: events go out without the flag's name and value"
  })
}).annotations({ description: "Adds flagName, variationName and variationValue to each FlagValue event, from FeatBit's flags" })
export type EnrichSetting = typeof EnrichSetting.Type
