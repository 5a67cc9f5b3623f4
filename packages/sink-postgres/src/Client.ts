import { SinkError } from "@featbit-export/core"
import { type ConnectionSettings, scopedPool } from "@featbit-export/source-postgres"
import { PLUGIN } from "./Errors.js"

/** Connections: one per batch in flight, and one for `check` beside them. */
export const POOL_SIZE = 5

/**
 * Opens the sink's pg Pool in the scope. Besides pg's client-side query timeout, the server's
 * `statement_timeout` bounds a COPY (pg's timeout does not watch a copy stream).
 */
export const openPool = (settings: ConnectionSettings, baseDir: string) =>
  scopedPool(settings, baseDir, { max: POOL_SIZE, statement_timeout: settings.queryTimeoutMs }, (why, error) =>
    SinkError.fatal(PLUGIN, `cannot read the TLS files of the postgres sink (${why}); fix tls`, error)
  )
