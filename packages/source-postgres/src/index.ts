import {
  DEFAULT_LAG,
  DurationSetting,
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
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import pg from "pg"
import { checkSource } from "./Check.js"
import { type ConnectionSettings, describeTarget, openConnection } from "./Client.js"
import { PLUGIN } from "./Errors.js"
import { type ReadSettings, makeReader } from "./Read.js"
import { urlIssues } from "./Url.js"

export { type CheckTarget, type IndexInfo, REQUIRED_COLUMNS, indexAdvice, servesKeyset } from "./Check.js"
export { type ConnectionSettings, describeTarget, poolConfig, scopedPool } from "./Client.js"
export { type ErrorContext, classify, isTransientPgError, redact, sqlstateOf } from "./Errors.js"
export { urlIssues } from "./Url.js"
export { type PgRow, type ReadSettings, SELECT_LIST, STORE_TIME_SQL, TS_TEXT, countSql, decodePage, makeReader, pageSql, rowOf, toPgTime } from "./Read.js"

export { DEFAULT_LAG, MAX_BATCH_SIZE }
/** The default `queryTimeout`. */
export const DEFAULT_QUERY_TIMEOUT = Duration.seconds(60)
/** The default `connectTimeout`. */
export const DEFAULT_CONNECT_TIMEOUT = Duration.seconds(10)
/** `"schema"."table"`, each quoted as an identifier (pg's escapeIdentifier), never interpolated raw. */
export const quoteTable = (schema: string, table: string): string => `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table)}`

const Name = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(63))

/** How to reach a PostgreSQL server: the keys the postgres source and sink share (each adds its own user and database). */
export const PostgresConnectionKeys = {
  url: Schema.optional(
    Schema.Redacted(Schema.String.pipe(Schema.minLength(1))).annotations({
      description:
        "postgres://user:password@host:5432/database?sslmode=require; a secret: write ${POSTGRES_URL}. Instead of host, port, user, password and database"
    })
  ),
  host: Schema.optional(Schema.String.pipe(Schema.minLength(1)).annotations({ description: "Server host name or unix socket folder (default localhost)" })),
  port: Schema.optional(Schema.Int.pipe(Schema.between(1, 65535)).annotations({ description: "Server port (default 5432)" })),
  password: Schema.optional(
    Schema.Redacted(Schema.String).annotations({ description: "The user's password; write ${POSTGRES_PASSWORD} rather than the secret itself" })
  ),
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
}

/** The `type: postgres` source's keys. */
export const PostgresSourceConfig = Schema.Struct({
  ...PostgresConnectionKeys,
  user: Schema.optional(Name.annotations({ description: "PostgreSQL user; one with SELECT on the table is enough (default postgres)" })),
  database: Schema.optional(Name.annotations({ description: "Database holding FeatBit's events (default: the user's name)" })),
  schema: Schema.optionalWith(Name, { default: () => "public", exact: true }).annotations({
    description: "Schema of the events table (default public)"
  }),
  table: Schema.optionalWith(Name, { default: () => "events", exact: true }).annotations({
    description: "Table to read (default events, FeatBit Standard's)"
  }),
  ...SourceFilters,
  queryTimeout: Schema.optionalWith(DurationSetting, { default: () => DEFAULT_QUERY_TIMEOUT, exact: true }).annotations({
    description: "How long one query may take before it is abandoned and read again (default 60s)"
  }),
  connectTimeout: Schema.optionalWith(DurationSetting, { default: () => DEFAULT_CONNECT_TIMEOUT, exact: true }).annotations({
    description: "How long connecting may take before it is retried (default 10s)"
  }),
})
export type PostgresSourceConfig = typeof PostgresSourceConfig.Type

/** The `type: postgres` source: FeatBit Standard's PostgreSQL `events` table. */
export const PostgresSource = defineSource({
  type: "postgres",
  description:
    "FeatBit Standard's PostgreSQL events table: keyset pages on (timestamp, id), jsonb properties decoded, undecodable rows dead-lettered, a horizon on the server's clock, late rows found behind the cursor (by xmin), optional window",
  config: PostgresSourceConfig,
  configIssues: (config) => [...sourceFilterIssues(config), ...urlIssues(config)],
  make: (config, context) =>
    Effect.gen(function* () {
      yield* checkSourceFilters(PLUGIN, config)
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
      // The password, the url, and what the url holds (its password as written and decoded, ?password=).
      const secrets = Secrets.collect(config).secrets.map((found) => found.value)
      const described = describeTarget(connection)
      const opened = yield* openConnection(connection, { ...described, table, secrets }, context.baseDir)
      const filters = resolveSourceFilters(config)
      const settings: ReadSettings = { table, envIds: filters.envIds, events: filters.events }
      const reader = makeReader(opened.query, settings)
      return {
        read: (from, options) => readPass(reader, filters, from, options),
        check: checkSource(opened, settings, { schema: config.schema, table: config.table }),
        selection: filterSelection(PLUGIN, { table: `${described.database}.${config.schema}.${config.table}` }, filters)
      }
    })
})
