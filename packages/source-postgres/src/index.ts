import { DateTimeSetting, checkWindow, DurationSetting, EventKind, PositiveInt, defineSource } from "@featbit-export/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import pg from "pg"
import { checkSource } from "./Check.js"
import { type ConnectionSettings, describeTarget, openConnection } from "./Client.js"
import { PLUGIN } from "./Errors.js"
import { type ReadSettings, readPages } from "./Read.js"

export { type CheckTarget, type IndexInfo, REQUIRED_COLUMNS, indexAdvice, servesKeyset } from "./Check.js"
export { type ConnectionSettings, describeTarget } from "./Client.js"
export { type ErrorContext, classify, redact } from "./Errors.js"
export { type PgRow, type ReadSettings, SELECT_LIST, TS_TEXT, decodePage, newestSql, pageSql, rowOf, toPgTime } from "./Read.js"

/** The default `lag`: see the README ("Late rows and lag"). */
export const DEFAULT_LAG = Duration.seconds(30)
/** The default `queryTimeout`. */
export const DEFAULT_QUERY_TIMEOUT = Duration.seconds(60)
/** The default `connectTimeout`. */
export const DEFAULT_CONNECT_TIMEOUT = Duration.seconds(10)
/** The largest `batchSize` accepted: a page is held in memory whole. */
export const MAX_BATCH_SIZE = 100_000

/** `"schema"."table"`, each quoted as an identifier (pg's escapeIdentifier), never interpolated raw. */
export const quoteTable = (schema: string, table: string): string => `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table)}`

const Name = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(63))

/** The `type: postgres` source's keys. */
export const PostgresSourceConfig = Schema.Struct({
  url: Schema.optional(
    Schema.Redacted(Schema.String.pipe(Schema.minLength(1))).annotations({
      description:
        "postgres://user:password@host:5432/database?sslmode=require; a secret: write ${POSTGRES_URL}. Instead of host, port, user, password and database"
    })
  ),
  host: Schema.optional(Schema.String.pipe(Schema.minLength(1)).annotations({ description: "Server host name or unix socket folder (default localhost)" })),
  port: Schema.optional(Schema.Int.pipe(Schema.between(1, 65535)).annotations({ description: "Server port (default 5432)" })),
  user: Schema.optional(Name.annotations({ description: "PostgreSQL user; one with SELECT on the table is enough (default postgres)" })),
  password: Schema.optional(
    Schema.Redacted(Schema.String).annotations({ description: "The user's password; write ${POSTGRES_PASSWORD} rather than the secret itself" })
  ),
  database: Schema.optional(Name.annotations({ description: "Database holding FeatBit's events (default: the user's name)" })),
  schema: Schema.optionalWith(Name, { default: () => "public", exact: true }).annotations({
    description: "Schema of the events table (default public)"
  }),
  table: Schema.optionalWith(Name, { default: () => "events", exact: true }).annotations({
    description: "Table to read (default events, FeatBit Standard's)"
  }),
  envIds: Schema.optional(
    Schema.NonEmptyArray(Schema.NonEmptyString).annotations({ description: "Only these FeatBit environment ids (default: every environment)" })
  ),
  events: Schema.optional(
    Schema.NonEmptyArray(EventKind).annotations({
      description: "Only these event kinds: FlagValue, CustomEvent, PageView, Click (default: every row, whatever its kind)"
    })
  ),
  startAt: Schema.optional(
    DateTimeSetting.annotations({ description: "Where a pipeline without a checkpoint starts, e.g. 2024-01-01T00:00:00Z (default: the oldest row)" })
  ),
  endAt: Schema.optional(
    DateTimeSetting.annotations({ description: "Rows at or after this instant are never read: a backfill window ends here (default: none)" })
  ),
  lag: Schema.optionalWith(DurationSetting, { default: () => DEFAULT_LAG, exact: true }).annotations({
    description:
      "A pass reads only rows at least this far behind the newest matching row, so rows still arriving are not overtaken (default 30s; 0 for a table nobody writes to)"
  }),
  batchSize: Schema.optional(
    PositiveInt.pipe(Schema.lessThanOrEqualTo(MAX_BATCH_SIZE)).annotations({ description: "Rows per page; overrides the pipeline's batch.size (default: batch.size)" })
  ),
  queryTimeout: Schema.optionalWith(DurationSetting, { default: () => DEFAULT_QUERY_TIMEOUT, exact: true }).annotations({
    description: "How long one query may take before it is abandoned and read again (default 60s)"
  }),
  connectTimeout: Schema.optionalWith(DurationSetting, { default: () => DEFAULT_CONNECT_TIMEOUT, exact: true }).annotations({
    description: "How long connecting may take before it is retried (default 10s)"
  }),
  tls: Schema.optional(
    Schema.Struct({
      caFile: Schema.optional(Schema.String.annotations({ description: "PEM file of the CA that signed the server's certificate (relative to this file)" })),
      certFile: Schema.optional(Schema.String.annotations({ description: "PEM client certificate, for mutual TLS (needs keyFile)" })),
      keyFile: Schema.optional(Schema.String.annotations({ description: "PEM private key of the client certificate" })),
      rejectUnauthorized: Schema.optional(
        Schema.Boolean.annotations({ description: "Verify the server's certificate (default true; false only for a test server)" })
      )
    }).annotations({ description: "Connect with TLS; the system's CAs are trusted by default (or put sslmode in the url)" })
  )
})
export type PostgresSourceConfig = typeof PostgresSourceConfig.Type

/** The `type: postgres` source: FeatBit Standard's PostgreSQL `events` table. */
export const PostgresSource = defineSource({
  type: "postgres",
  description:
    "FeatBit Standard's PostgreSQL events table: keyset pages on (timestamp, id), jsonb properties decoded, undecodable rows dead-lettered, a lag for late rows, optional window",
  config: PostgresSourceConfig,
  make: (config, context) =>
    Effect.gen(function* () {
      yield* checkWindow(PLUGIN, config)
      const url = config.url === undefined ? undefined : Redacted.value(config.url)
      const password = config.password === undefined ? undefined : Redacted.value(config.password)
      const connection: ConnectionSettings = {
        url,
        host: config.host,
        port: config.port,
        user: config.user,
        password,
        database: config.database,
        queryTimeoutMs: Duration.toMillis(config.queryTimeout),
        connectTimeoutMs: Duration.toMillis(config.connectTimeout),
        tls: config.tls
      }
      const table = quoteTable(config.schema, config.table)
      const secrets: Array<string> = []
      if (password !== undefined) secrets.push(password)
      if (url !== undefined) {
        secrets.push(url)
        try {
          const parsed = new URL(url).password
          if (parsed !== "") secrets.push(decodeURIComponent(parsed), parsed)
        } catch {
          // Not a URL pg can read either: the connection attempt says so, with the url redacted.
        }
      }
      const described = describeTarget(connection)
      const opened = yield* openConnection(connection, { ...described, table, secrets }, context.baseDir)
      const settings: ReadSettings = {
        table,
        envIds: config.envIds,
        events: config.events,
        startAt: config.startAt,
        endAt: config.endAt,
        lag: config.lag,
        batchSize: config.batchSize
      }
      return {
        read: (from, options) => readPages(opened.query, settings, from, options),
        check: checkSource(opened, settings, { schema: config.schema, table: config.table })
      }
    })
})
