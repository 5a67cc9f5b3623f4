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
  sourceFilterIssues
} from "@featbit-export/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { checkSource } from "./Check.js"
import { openTransport } from "./Client.js"
import { PLUGIN } from "./Errors.js"
import { makeSession } from "./Query.js"
import { type ReadSettings, makeReader } from "./Read.js"
import { urlIssues } from "./Url.js"

export {
  type EventsTable,
  type EventsTableRow,
  type InsertOptions,
  TAG_COLUMNS,
  createFeatBitEventsTable,
  featbitEventsDdl,
  insertFeatBitRows,
  quoteIdentifier,
  toEventsTableRow
} from "./Ddl.js"
export { type ErrorContext, IncompleteResponse, classify, serverException } from "./Errors.js"
export { type CursorColumn, INGEST_MARGIN_SECONDS, type ReadSettings, fromClickHouseTime, makeReader, toClickHouseTime } from "./Read.js"
export { REQUIRED_COLUMNS } from "./Check.js"
export { urlIssues } from "./Url.js"
export { type Transport, type TransportConfig, chdbPath, createEmbeddedClient, openTransport } from "./Client.js"

export { DEFAULT_LAG, MAX_BATCH_SIZE }
/** The default `requestTimeout`: the longest the client waits for a silent socket. */
export const DEFAULT_REQUEST_TIMEOUT = Duration.seconds(60)

const Name = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(255))

/** The `type: clickhouse` source's keys. */
export const ClickHouseSourceConfig = Schema.Struct({
  url: Schema.String.pipe(Schema.minLength(1)).annotations({
    description:
      "http(s)://host:8123 for a ClickHouse server (HTTP interface), or chdb:<folder> for an embedded ClickHouse (chDB) in a folder relative to this file"
  }),
  username: Schema.optionalWith(Name, { default: () => "default", exact: true }).annotations({
    description: "ClickHouse user (default \"default\"); a read-only user with SELECT on the table is enough"
  }),
  // Annotations of a plain `optional` field stay off the JSON Schema, so they go on the value's schema.
  password: Schema.optional(
    Schema.Redacted(Schema.String).annotations({ description: "The user's password; write ${CLICKHOUSE_PASSWORD} rather than the secret itself" })
  ),
  database: Schema.optionalWith(Name, { default: () => "featbit", exact: true }).annotations({
    description: "Database holding FeatBit's events (default featbit)"
  }),
  table: Schema.optionalWith(Name, { default: () => "events", exact: true }).annotations({
    description: "Table to read (default events; distributed_events on a replicated FeatBit Pro cluster)"
  }),
  ...SourceFilters,
  cursorColumn: Schema.optionalWith(Schema.Literal("timestamp", "_timestamp"), { default: () => "timestamp" as const, exact: true }).annotations({
    description: "Order and resume on FeatBit's event time (timestamp, default) or ClickHouse's ingest time (_timestamp, whole seconds)"
  }),
  requestTimeout: Schema.optionalWith(DurationSetting, { default: () => DEFAULT_REQUEST_TIMEOUT, exact: true }).annotations({
    description: "HTTP: how long a query may leave the socket silent before it is retried (default 60s)"
  }),
  tls: Schema.optional(
    Schema.Struct({
      caFile: Schema.optional(Schema.String.annotations({ description: "PEM file of the CA that signed the server's certificate (relative to this file)" })),
      certFile: Schema.optional(Schema.String.annotations({ description: "PEM client certificate, for mutual TLS (needs keyFile and caFile)" })),
      keyFile: Schema.optional(Schema.String.annotations({ description: "PEM private key of the client certificate" }))
    }).annotations({ description: "HTTPS options; the system's CAs are trusted by default" })
  )
})
export type ClickHouseSourceConfig = typeof ClickHouseSourceConfig.Type

/** The `type: clickhouse` source: FeatBit Pro's ClickHouse `events` table over HTTP(S), or an embedded ClickHouse (chDB). */
export const ClickHouseSource = defineSource({
  type: "clickhouse",
  description:
    "FeatBit Pro's ClickHouse events table, over the HTTP interface or from an embedded ClickHouse (chDB): keyset pages on (timestamp, uuid), a horizon on the server's clock, late rows found behind the cursor (by _timestamp), optional window",
  config: ClickHouseSourceConfig,
  configIssues: (config) => [...sourceFilterIssues(config), ...urlIssues(config)],
  make: (config, context) =>
    Effect.gen(function* () {
      yield* checkSourceFilters(PLUGIN, config)
      const password = config.password === undefined ? undefined : Redacted.value(config.password)
      const transport = yield* openTransport(
        {
          url: config.url,
          username: config.username,
          password,
          requestTimeout: config.requestTimeout,
          tls: config.tls
        },
        context.baseDir
      )
      const filters = resolveSourceFilters(config)
      const settings: ReadSettings = {
        database: config.database,
        table: config.table,
        cursorColumn: config.cursorColumn,
        envIds: filters.envIds,
        events: filters.events
      }
      const session = makeSession(transport, {
        target: transport.target,
        username: transport.kind === "chdb" ? "default" : config.username,
        database: config.database,
        table: config.table,
        // HTTP Basic sends `username:password` base64-encoded: a proxy that echoes the header gives that back.
        secrets: password === undefined || password === "" ? [] : [password, `${config.username}:${password}`]
      })
      const reader = makeReader(session, settings)
      // On the ingest time, rows come in the order they are stored: nothing lands behind the cursor.
      const pass = config.cursorColumn === "_timestamp" ? { ...filters, lateWindow: Duration.zero } : filters
      return {
        read: (from, options) => readPass(reader, pass, from, options),
        check: checkSource(session, settings),
        selection: filterSelection(PLUGIN, { table: `${settings.database}.${settings.table}`, cursorColumn: settings.cursorColumn }, filters)
      }
    })
})
