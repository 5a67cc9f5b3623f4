import { classify, describeTarget, quoteTable } from "@featbit-export/source-postgres"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import pg from "pg"
import { type StoredFlag, catalogueOf } from "./Catalogue.js"
import type { CatalogueReader } from "./CatalogueReader.js"
import { relabel } from "./Relabel.js"

/**
 * FeatBit's flags from its own PostgreSQL: `feature_flags` with `variations jsonb` (camelCase keys inside, as
 * FeatBit's EF Core mapping writes them). The table has no unique (env_id, key); FeatBit keeps keys unique per
 * environment in its code, so one row per key is taken (the newest, should there ever be two).
 */
export const postgresCatalogue = (options: { readonly url: Redacted.Redacted<string>; readonly schema: string }): Effect.Effect<CatalogueReader, never, Scope.Scope> =>
  Effect.gen(function* () {
    const url = Redacted.value(options.url)
    const table = quoteTable(options.schema, "feature_flags")
    const { target, user, database } = describeTarget({ url, host: undefined, port: undefined, user: undefined, password: undefined, database: undefined, queryTimeoutMs: 0, connectTimeoutMs: 0, tls: undefined })
    const password = safeUrl(url)?.password
    const context = { target, user, database, table, secrets: [url, ...(password ? [decodeURIComponent(password)] : [])] }
    const pool = yield* Effect.acquireRelease(
      Effect.sync(() => new pg.Pool({ connectionString: url, max: 1, connectionTimeoutMillis: 10_000, query_timeout: 30_000 })),
      (p) => Effect.promise(() => p.end().catch(() => undefined))
    )
    // An idle client that the server closes would otherwise be an unhandled 'error' event.
    pool.on("error", () => undefined)
    const sql = `SELECT DISTINCT ON (key) key, name, variation_type AS "variationType", variations FROM ${table} WHERE env_id::text = $1 ORDER BY key, updated_at DESC`
    const read = (envId: string) =>
      Effect.tryPromise({
        try: () => pool.query<StoredFlag>(sql, [envId]),
        catch: (error) => relabel(classify(error, context, "reading FeatBit's flags"))
      }).pipe(Effect.map((result) => catalogueOf(result.rows)))
    return { read }
  })

const safeUrl = (url: string): URL | undefined => {
  try {
    return new URL(url)
  } catch {
    return undefined
  }
}
