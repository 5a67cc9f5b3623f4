import { ByteSizeSetting, ColumnRenamesSetting, DurationSetting, PositiveInt } from "@featbit-export/core"
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"

const Name = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(255))

/** The default `dedupWindow`: how many recent inserts a created table remembers the tokens of. */
export const DEFAULT_DEDUP_WINDOW = 10_000

/** The keys of a `type: clickhouse` sink in a pipeline file. */
export const ClickHouseSinkConfig = Schema.Struct({
  url: Schema.String.pipe(Schema.minLength(1)).annotations({
    description: "http(s)://host:8123 for a ClickHouse server (HTTP interface), or chdb:<folder> for an embedded ClickHouse (chDB) in a folder relative to this file"
  }),
  username: Schema.optionalWith(Name, { default: () => "default", exact: true }).annotations({
    description: 'ClickHouse user (default "default"); it needs INSERT on the table (and CREATE TABLE with createTable)'
  }),
  password: Schema.optional(
    Schema.Redacted(Schema.String).annotations({ description: "The user's password; write ${CLICKHOUSE_PASSWORD} rather than the secret itself; never printed" })
  ),
  database: Schema.optionalWith(Name, { default: () => "default", exact: true }).annotations({ description: "Database of the table (default default)" }),
  table: Schema.optionalWith(Name, { default: () => "featbit_events", exact: true }).annotations({ description: "Table to write (default featbit_events)" }),
  createTable: Schema.optionalWith(Schema.Boolean, { default: () => true, exact: true }).annotations({
    description: "Create the table (ReplacingMergeTree keyed by id, by month) on the first write when it is missing (default true); an existing table is never altered"
  }),
  columns: Schema.optional(ColumnRenamesSetting),
  dedupWindow: Schema.optionalWith(PositiveInt, { default: () => DEFAULT_DEDUP_WINDOW, exact: true }).annotations({
    description: `non_replicated_deduplication_window of a table this sink creates: how many recent inserts' tokens it remembers, so a retried insert is dropped (default ${DEFAULT_DEDUP_WINDOW})`
  }),
  maxBytes: Schema.optionalWith(ByteSizeSetting, { default: () => 16 * 1024 * 1024, exact: true }).annotations({
    description: "The most JSON bytes per INSERT (default 16MiB); a larger batch is split into several inserts"
  }),
  requestTimeout: Schema.optionalWith(DurationSetting, { default: () => Duration.seconds(60), exact: true }).annotations({
    description: "HTTP: how long an insert may leave the socket silent before it counts as failed and is retried (default 60s)"
  }),
  tls: Schema.optional(
    Schema.Struct({
      caFile: Schema.optional(Schema.String.annotations({ description: "PEM file of the CA that signed the server's certificate (relative to this file)" })),
      certFile: Schema.optional(Schema.String.annotations({ description: "PEM client certificate, for mutual TLS (needs keyFile and caFile)" })),
      keyFile: Schema.optional(Schema.String.annotations({ description: "PEM private key of the client certificate" }))
    }).annotations({ description: "HTTPS options; the system's CAs are trusted by default" })
  )
})
export type ClickHouseSinkConfig = typeof ClickHouseSinkConfig.Type
