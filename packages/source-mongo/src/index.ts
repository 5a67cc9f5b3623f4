import {
  DEFAULT_LAG,
  MAX_BATCH_SIZE,
  SourceFilters,
  checkSourceFilters,
  defineSource,
  filterSelection,
  readPass,
  resolveSourceFilters,
  Secrets,
  sourceFilterIssues
} from "@featbit-export/core"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { checkSource } from "./Check.js"
import { openSession } from "./Client.js"
import { type ErrorContext, PLUGIN, targetOf } from "./Errors.js"
import { type ReadSettings, makeReader } from "./Read.js"
import { urlIssues } from "./Url.js"

export { type IndexInfo, createIndexCommand, indexAdvice, recommendedIndex, servesKeyset } from "./Check.js"
export { type EventDocument, decodeEventDocument } from "./Documents.js"
export { type ErrorContext, PLUGIN, classify, redact, secretsOf, targetOf } from "./Errors.js"
export { type Session, type Store, openSession } from "./Client.js"
export { urlIssues } from "./Url.js"
export { KEYSET_SORT, MIN_DATE, type ReadSettings, baseFilter, countPipeline, makeReader, rangeFilter } from "./Read.js"

export { DEFAULT_LAG, MAX_BATCH_SIZE }

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
  ...SourceFilters,
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
    "FeatBit Standard's MongoDB Events collection, read with the official mongodb driver: keyset pages on (timestamp, _id), a horizon on the server's clock, late events found behind the cursor, optional window; follow mode polls",
  config: MongoSourceConfig,
  configIssues: (config) => [...sourceFilterIssues(config), ...urlIssues(config)],
  make: (config) =>
    Effect.gen(function* () {
      yield* checkSourceFilters(PLUGIN, config)
      const url = Redacted.value(config.url)
      const context: ErrorContext = {
        target: targetOf(url),
        database: config.database,
        collection: config.collection,
        // The url and what it holds: its password (as written and decoded), user:password, ?password=.
        secrets: Secrets.collect(config).secrets.map((found) => found.value)
      }
      const session = yield* openSession(
        url,
        { appName: "featbit-export", ...(config.readPreference === undefined ? {} : { readPreference: config.readPreference }) },
        config.database,
        config.collection,
        context
      )
      const filters = resolveSourceFilters(config)
      const settings: ReadSettings = { envIds: filters.envIds, events: filters.events }
      const reader = makeReader(session, settings)
      return {
        read: (from, options) => readPass(reader, filters, from, options),
        check: checkSource(session, settings),
        selection: filterSelection(PLUGIN, { collection: `${config.database}.${config.collection}` }, filters)
      }
    })
})
