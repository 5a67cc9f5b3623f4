import { DateTimeSetting, checkWindow, DurationSetting, EventKind, PositiveInt, defineSource } from "@featbit-export/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { MongoClient } from "mongodb"
import { checkSource } from "./Check.js"
import { type ErrorContext, PLUGIN, classify, secretsOf, targetOf } from "./Errors.js"
import { type ReadSettings, readPages } from "./Read.js"

export { type IndexInfo, createIndexCommand, indexAdvice, recommendedIndex, servesKeyset } from "./Check.js"
export { type EventDocument, decodeEventDocument } from "./Documents.js"
export { type ErrorContext, PLUGIN, classify, redact, secretsOf, targetOf } from "./Errors.js"
export { KEYSET_SORT, MIN_DATE, type ReadSettings, type Session, baseFilter, newestMillis, pageFilter, readPages } from "./Read.js"

/** The default `lag`: see the README ("Late events and lag"). */
export const DEFAULT_LAG = Duration.seconds(30)
/** The largest `batchSize` accepted: a page is held in memory whole. */
export const MAX_BATCH_SIZE = 100_000


const Name = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(255))

/** MongoDB's read preference modes. */
export const ReadPreferenceMode = Schema.Literal("primary", "primaryPreferred", "secondary", "secondaryPreferred", "nearest")

/** The `type: mongo` source's keys. */
export const MongoSourceConfig = Schema.Struct({
  url: Schema.Redacted(Schema.String.pipe(Schema.minLength(1))).annotations({
    description:
      "MongoDB connection string, e.g. mongodb://user:password@host:27017/?authSource=admin; it may hold a password, so write ${MONGO_URL} rather than the url itself"
  }),
  database: Schema.optionalWith(Name, { default: () => "featbit", exact: true }).annotations({
    description: "Database holding FeatBit's events (default featbit)"
  }),
  collection: Schema.optionalWith(Name, { default: () => "Events", exact: true }).annotations({
    description: "Collection to read (default Events)"
  }),
  // Annotations of a plain `optional` field stay off the JSON Schema, so they go on the value's schema.
  envIds: Schema.optional(
    Schema.NonEmptyArray(Schema.NonEmptyString).annotations({ description: "Only these FeatBit environment ids (default: every environment)" })
  ),
  events: Schema.optional(
    Schema.NonEmptyArray(EventKind).annotations({
      description: "Only these event kinds: FlagValue, CustomEvent, PageView, Click (default: every document, whatever its kind)"
    })
  ),
  startAt: Schema.optional(
    DateTimeSetting.annotations({
      description: "Where a pipeline without a checkpoint starts, on timestamp, e.g. 2024-01-01T00:00:00Z (default: the oldest document)"
    })
  ),
  endAt: Schema.optional(
    DateTimeSetting.annotations({
      description: "Documents at or after this instant are never read: a backfill window ends here (default: none)"
    })
  ),
  batchSize: Schema.optional(
    PositiveInt.pipe(Schema.lessThanOrEqualTo(MAX_BATCH_SIZE)).annotations({
      description: "Documents per page; overrides the pipeline's batch.size (default: batch.size)"
    })
  ),
  lag: Schema.optionalWith(DurationSetting, { default: () => DEFAULT_LAG, exact: true }).annotations({
    description:
      "A pass reads only documents at least this far behind the newest timestamp, so events still arriving are not overtaken (default 30s; 0 for a collection nobody writes to)"
  }),
  readPreference: Schema.optional(
    ReadPreferenceMode.annotations({
      description: "Which replica set members to read from: primary, primaryPreferred, secondary, secondaryPreferred, nearest (default: the url's, else primary)"
    })
  )
})
export type MongoSourceConfig = typeof MongoSourceConfig.Type

/** The `type: mongo` source: FeatBit Standard's MongoDB `Events` collection, read with the official driver. */
export const MongoSource = defineSource({
  type: "mongo",
  description:
    "FeatBit Standard's MongoDB Events collection, read with the official mongodb driver: keyset pages on (timestamp, _id), a lag for late events, optional window; follow mode polls",
  config: MongoSourceConfig,
  make: (config) =>
    Effect.gen(function* () {
      yield* checkWindow(PLUGIN, config)
      const url = Redacted.value(config.url)
      const context: ErrorContext = {
        target: targetOf(url),
        database: config.database,
        collection: config.collection,
        secrets: secretsOf(url)
      }
      const client = yield* Effect.acquireRelease(
        Effect.try({
          try: () => new MongoClient(url, { appName: "featbit-export", ...(config.readPreference === undefined ? {} : { readPreference: config.readPreference }) }),
          catch: (error) => classify(error, context, "reading the url")
        }),
        (client) => Effect.promise(() => client.close().catch(() => undefined))
      )
      const db = client.db(config.database)
      const session = { collection: db.collection(config.collection), context }
      const settings: ReadSettings = {
        envIds: config.envIds,
        events: config.events,
        startAt: config.startAt,
        endAt: config.endAt,
        lag: config.lag,
        batchSize: config.batchSize
      }
      return {
        read: (from, options) => readPages(session, settings, from, options),
        check: checkSource(db, session, settings)
      }
    })
})
