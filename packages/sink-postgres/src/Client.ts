import { SinkError } from "@featbit-export/core"
import { type ConnectionSettings, poolConfig } from "@featbit-export/source-postgres"
import * as Effect from "effect/Effect"
import pg from "pg"
import { PLUGIN } from "./Errors.js"

/** Connections: one per batch in flight, and one for `check` beside them. */
export const POOL_SIZE = 5

/**
 * Opens a pg Pool in the scope and closes it when the scope closes. Besides pg's client-side query timeout,
 * the server's `statement_timeout` bounds a COPY (pg's timeout does not watch a copy stream). Errors of idle
 * connections are swallowed here (they would crash the process); the next batch gets a fresh connection.
 */
export const openPool = (settings: ConnectionSettings, baseDir: string) =>
  Effect.gen(function* () {
    const config = yield* Effect.try({
      try: () => poolConfig(settings, baseDir),
      catch: (error) => SinkError.fatal(PLUGIN, `cannot read the TLS files of the postgres sink (${(error as Error).message}); fix tls`, error)
    })
    return yield* Effect.acquireRelease(
      Effect.sync(() => {
        const pool = new pg.Pool({ ...config, max: POOL_SIZE, statement_timeout: settings.queryTimeoutMs })
        pool.on("error", () => {})
        return pool
      }),
      (pool) => Effect.promise(() => pool.end().catch(() => undefined))
    )
  })
