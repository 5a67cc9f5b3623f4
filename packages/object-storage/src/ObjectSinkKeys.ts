import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type { FileFormat } from "./FileFormat.js"
import { ndjsonGzip } from "./NdjsonGzip.js"
import { openParquet } from "./Parquet.js"

/** The default `prefix`: where the objects go in the bucket or container. */
export const DEFAULT_PREFIX = "featbit/events"

/** The keys every object-storage sink shares: where in the bucket or container, and in which format. */
export const ObjectSinkKeys = {
  prefix: Schema.optionalWith(Schema.String.pipe(Schema.maxLength(512)), { default: () => DEFAULT_PREFIX, exact: true }).annotations({
    description: `Key prefix of every object (default ${DEFAULT_PREFIX}); the objects go under <prefix>/env_id=<env>/date=<YYYY-MM-DD>/`
  }),
  format: Schema.optionalWith(Schema.Literal("parquet", "ndjson"), { default: () => "parquet" as const, exact: true }).annotations({
    description: "parquet (zstd, typed columns, UTC microsecond timestamps; the default) or ndjson (gzipped newline-delimited JSON)"
  })
}

/** The format a sink's config names, open for the sink's scope (Parquet holds an embedded DuckDB). */
export const openFormat = (name: "parquet" | "ndjson"): Effect.Effect<FileFormat, never, Scope.Scope> =>
  name === "parquet" ? openParquet : Effect.succeed(ndjsonGzip)
