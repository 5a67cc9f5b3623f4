import { SourceError } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import { readFileSync } from "node:fs"
import { resolve } from "node:path"
import pg from "pg"
import { type ErrorContext, PLUGIN, classify } from "./Errors.js"
import type { Query } from "./Read.js"

/** How to reach the server, decoded from the pipeline file (secrets already revealed, for the driver only). */
export interface ConnectionSettings {
  readonly url: string | undefined
  readonly host: string | undefined
  readonly port: number | undefined
  readonly user: string | undefined
  readonly password: string | undefined
  readonly database: string | undefined
  readonly queryTimeoutMs: number
  readonly connectTimeoutMs: number
  readonly tls:
    | {
        readonly caFile?: string | undefined
        readonly certFile?: string | undefined
        readonly keyFile?: string | undefined
        readonly rejectUnauthorized?: boolean | undefined
      }
    | undefined
}

/** Where the source connects, for messages: never the password. */
export const describeTarget = (settings: ConnectionSettings): { target: string; user: string; database: string } => {
  if (settings.url !== undefined) {
    try {
      const url = new URL(settings.url)
      const database = decodeURIComponent(url.pathname.replace(/^\//, "")) || decodeURIComponent(url.username) || "postgres"
      const host = url.hostname === "" ? url.searchParams.get("host") ?? "localhost" : url.hostname
      return { target: `${host}:${url.port || "5432"}/${database}`, user: decodeURIComponent(url.username) || "(default user)", database }
    } catch {
      return { target: "(the configured url)", user: "(from the url)", database: "(from the url)" }
    }
  }
  const host = settings.host ?? "localhost"
  const user = settings.user ?? "postgres"
  const database = settings.database ?? user
  return { target: `${host}:${settings.port ?? 5432}/${database}`, user, database }
}

const readPem = (file: string | undefined, baseDir: string): string | undefined => (file === undefined ? undefined : readFileSync(resolve(baseDir, file), "utf8"))

/** The options handed to pg's Pool. */
export const poolConfig = (settings: ConnectionSettings, baseDir: string): pg.PoolConfig => {
  const ssl =
    settings.tls === undefined
      ? undefined
      : {
          rejectUnauthorized: settings.tls.rejectUnauthorized ?? true,
          ...(settings.tls.caFile === undefined ? {} : { ca: readPem(settings.tls.caFile, baseDir) }),
          ...(settings.tls.certFile === undefined ? {} : { cert: readPem(settings.tls.certFile, baseDir) }),
          ...(settings.tls.keyFile === undefined ? {} : { key: readPem(settings.tls.keyFile, baseDir) })
        }
  return {
    ...(settings.url === undefined ? {} : { connectionString: settings.url }),
    ...(settings.host === undefined ? {} : { host: settings.host }),
    ...(settings.port === undefined ? {} : { port: settings.port }),
    // pg would fall back to the operating system's user name; without a url the documented default is postgres.
    ...(settings.user !== undefined ? { user: settings.user } : settings.url === undefined ? { user: "postgres" } : {}),
    ...(settings.password === undefined ? {} : { password: settings.password }),
    ...(settings.database === undefined ? {} : { database: settings.database }),
    ...(ssl === undefined ? {} : { ssl }),
    // One reader: pages are read one after the other. A second slot lets `check` run beside a read.
    max: 2,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: settings.connectTimeoutMs,
    query_timeout: settings.queryTimeoutMs,
    application_name: "featbit-export"
  }
}

/** An open pool and the query function the reader and `check` use. */
export interface Connection {
  readonly pool: pg.Pool
  readonly context: ErrorContext
  readonly query: Query
}

/**
 * A pg Pool opened in the scope and ended when the scope closes, with `extra` pool settings. Errors of idle
 * connections are swallowed (unhandled, they would crash the process); the next query gets a fresh connection.
 * `unreadable`: the failure when the TLS files cannot be read (`why`: the file system's message).
 */
export const scopedPool = <E>(settings: ConnectionSettings, baseDir: string, extra: pg.PoolConfig, unreadable: (why: string, error: unknown) => E) =>
  Effect.gen(function* () {
    const config = yield* Effect.try({
      try: () => poolConfig(settings, baseDir),
      catch: (error) => unreadable((error as Error).message, error)
    })
    return yield* Effect.acquireRelease(
      Effect.sync(() => {
        const pool = new pg.Pool({ ...config, ...extra })
        pool.on("error", () => {})
        return pool
      }),
      (pool) => Effect.promise(() => pool.end().catch(() => undefined))
    )
  })

/**
 * Opens a pg Pool in the scope and closes it when the scope closes. The pool replaces a connection that died
 * (server restart, pg_terminate_backend): the failing query is classified transient, the engine reads again,
 * and the next query gets a fresh connection. Errors of idle connections are swallowed here (they would
 * otherwise crash the process); the next query reports the problem if it persists.
 */
export const openConnection = (settings: ConnectionSettings, context: ErrorContext, baseDir: string) =>
  Effect.gen(function* () {
    const pool = yield* scopedPool(settings, baseDir, {}, (why, error) => SourceError.fatal(PLUGIN, `cannot read the TLS files of the postgres source (${why}); fix tls`, error))
    const query: Query = <R extends object>(sql: string, params: ReadonlyArray<unknown>, doing: string) =>
      Effect.tryPromise({
        try: () => pool.query<R & pg.QueryResultRow>(sql, params as Array<unknown>).then((result) => result.rows as ReadonlyArray<R>),
        catch: (error) => classify(error, context, doing)
      })
    return { pool, context, query } satisfies Connection
  })
