import { ByteSizeSetting, ColumnRenamesSetting, DurationSetting } from "@featbit-export/core"
import { PostgresConnectionKeys } from "@featbit-export/source-postgres"
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"

const Name = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(63))

/** The default `maxBytes`: COPY text per transaction. */
export const DEFAULT_MAX_BYTES = 8 * 1024 * 1024

/** The keys of a `type: postgres` sink in a pipeline file. */
export const PostgresSinkConfig = Schema.Struct({
  ...PostgresConnectionKeys,
  user: Schema.optional(Name.annotations({ description: "PostgreSQL user; it needs INSERT on the table, TEMP on the database (and CREATE on the schema with createTable) (default postgres)" })),
  database: Schema.optional(Name.annotations({ description: "Database to write into (default: the user's name)" })),
  schema: Schema.optionalWith(Name, { default: () => "public", exact: true }).annotations({ description: "Schema of the table (default public); it must exist" }),
  table: Schema.optionalWith(Name, { default: () => "featbit_events", exact: true }).annotations({ description: "Table to write (default featbit_events)" }),
  createTable: Schema.optionalWith(Schema.Boolean, { default: () => true, exact: true }).annotations({
    description: "Create the table (id uuid primary key, typed columns, jsonb) on the first write when it is missing (default true); an existing table is never altered"
  }),
  columns: Schema.optional(ColumnRenamesSetting),
  maxBytes: Schema.optionalWith(ByteSizeSetting, { default: () => DEFAULT_MAX_BYTES, exact: true }).annotations({
    description: "The most COPY text per transaction (default 8MiB); a larger batch is written in several transactions"
  }),
  queryTimeout: Schema.optionalWith(DurationSetting, { default: () => Duration.seconds(60), exact: true }).annotations({
    description: "How long one statement (a COPY, the INSERT) may take before it is abandoned and the batch retried (default 60s)"
  }),
  connectTimeout: Schema.optionalWith(DurationSetting, { default: () => Duration.seconds(10), exact: true }).annotations({
    description: "How long connecting may take before the batch is retried (default 10s)"
  })
})
export type PostgresSinkConfig = typeof PostgresSinkConfig.Type
