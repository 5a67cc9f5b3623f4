import { ByteSizeSetting, ColumnRenamesSetting, DurationSetting } from "@featbit-export/core"
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"

const Name = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(63))

/** The default `maxBytes`: COPY text per transaction. */
export const DEFAULT_MAX_BYTES = 8 * 1024 * 1024

/** The keys of a `type: postgres` sink in a pipeline file. */
export const PostgresSinkConfig = Schema.Struct({
  url: Schema.optional(
    Schema.Redacted(Schema.String.pipe(Schema.minLength(1))).annotations({
      description:
        "postgres://user:password@host:5432/database?sslmode=require; a secret: write ${POSTGRES_URL}. Instead of host, port, user, password and database"
    })
  ),
  host: Schema.optional(Schema.String.pipe(Schema.minLength(1)).annotations({ description: "Server host name or unix socket folder (default localhost)" })),
  port: Schema.optional(Schema.Int.pipe(Schema.between(1, 65535)).annotations({ description: "Server port (default 5432)" })),
  user: Schema.optional(Name.annotations({ description: "PostgreSQL user; it needs INSERT on the table, TEMP on the database (and CREATE on the schema with createTable) (default postgres)" })),
  password: Schema.optional(
    Schema.Redacted(Schema.String).annotations({ description: "The user's password; write ${POSTGRES_PASSWORD} rather than the secret itself; never printed" })
  ),
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
  }),
  tls: Schema.optional(
    Schema.Struct({
      caFile: Schema.optional(Schema.String.annotations({ description: "PEM file of the CA that signed the server's certificate (relative to this file)" })),
      certFile: Schema.optional(Schema.String.annotations({ description: "PEM client certificate, for mutual TLS (needs keyFile)" })),
      keyFile: Schema.optional(Schema.String.annotations({ description: "PEM private key of the client certificate" })),
      rejectUnauthorized: Schema.optional(Schema.Boolean.annotations({ description: "Verify the server's certificate (default true; false only for a test server)" }))
    }).annotations({ description: "Connect with TLS; the system's CAs are trusted by default (or put sslmode in the url)" })
  )
})
export type PostgresSinkConfig = typeof PostgresSinkConfig.Type
