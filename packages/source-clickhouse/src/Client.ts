import { type ClickHouseClient, ClickHouseLogLevel, createClient } from "@clickhouse/client"
import { SourceError } from "@featbit-export/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as path from "node:path"
import { PLUGIN } from "./Errors.js"

/** How the source reaches ClickHouse, as decoded from the pipeline file. */
export interface TransportConfig {
  /** `http(s)://host:port[/path]`, or `chdb:<folder>` for the embedded engine. */
  readonly url: string
  readonly username: string
  /** The password, already revealed from its `Redacted` wrapper: it goes to the client only. */
  readonly password: string | undefined
  readonly requestTimeout: Duration.Duration
  readonly tls?:
    | {
        readonly caFile?: string | undefined
        readonly certFile?: string | undefined
        readonly keyFile?: string | undefined
      }
    | undefined
}

/** An open client and how to name what it reaches in messages. */
export interface Transport {
  readonly client: ClickHouseClient
  readonly kind: "http" | "chdb"
  /** `http://host:8123` (never with credentials) or `embedded ClickHouse in /abs/dir`. */
  readonly target: string
}

/** What a `chdb:` url names: an absolute folder, or `:memory:`. */
export const chdbPath = (url: string, baseDir: string): string => {
  const rest = url.slice("chdb:".length).replace(/^\/\/(?=\/)/, "")
  if (rest === ":memory:") return rest
  return path.resolve(baseDir, rest)
}

export const isChdbUrl = (url: string): boolean => url.startsWith("chdb:")

/** The url as it may appear in messages and `check` output: scheme, host, port, path; never credentials. */
export const displayUrl = (url: URL): string => `${url.protocol}//${url.host}${url.pathname === "/" ? "" : url.pathname}`

const CHDB_MODULE = "chdb/connection"

/** What this source needs from `chdb/connection`; typed here so that chdb stays an optional peer. */
interface ChdbModule {
  readonly createChdbConnection: (options: { readonly path: string }) => unknown
}

const isModuleMissing = (error: unknown): boolean => {
  const code = (error as { code?: unknown } | null)?.code
  return code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND"
}

/** Loads chdb only when a `chdb:` url asks for it, with a sentence saying how to install it when it is missing. */
const loadChdb: Effect.Effect<ChdbModule, SourceError> = Effect.tryPromise({
  // A specifier in a variable keeps TypeScript and bundlers from requiring the optional package.
  try: () => import(CHDB_MODULE) as Promise<ChdbModule>,
  catch: (error) =>
    isModuleMissing(error)
      ? SourceError.fatal(
          PLUGIN,
          "a chdb: url needs the optional package chdb (embedded ClickHouse, about 550 MB, Linux and macOS): install it beside featbit-export with `npm install chdb`, or point url at a ClickHouse server (http://host:8123)",
          error
        )
      : SourceError.fatal(PLUGIN, `cannot load the chdb package (${(error as Error).message}); reinstall it with \`npm install chdb\``, error)
})

const readTlsFile = (baseDir: string, key: string, file: string): Effect.Effect<Buffer, SourceError> =>
  Effect.try({
    try: () => fs.readFileSync(path.resolve(baseDir, file)),
    catch: (error) =>
      SourceError.fatal(PLUGIN, `cannot read tls.${key} ${path.resolve(baseDir, file)} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); fix the path`, error)
  })

const closeClient = (client: ClickHouseClient) => Effect.promise(() => client.close().catch(() => undefined))

/** Common client options: our own errors replace the client's console logging. */
const baseOptions = {
  application: "featbit-export",
  log: { level: ClickHouseLogLevel.OFF }
} as const

const openChdb = (config: TransportConfig, baseDir: string): Effect.Effect<Transport, SourceError, Scope.Scope> =>
  Effect.gen(function* () {
    const folder = chdbPath(config.url, baseDir)
    if (folder !== ":memory:" && !fs.existsSync(folder)) {
      return yield* Effect.fail(
        SourceError.fatal(PLUGIN, `the chdb folder ${folder} (url ${config.url}) does not exist; fix the url (a chdb: path is relative to the pipeline file's folder)`)
      )
    }
    const chdb = yield* loadChdb
    const client = yield* Effect.acquireRelease(
      Effect.try({
        try: () =>
          createClient({
            ...baseOptions,
            // chdb implements the client's Connection contract; its type comes from chdb's own copy of the client.
            connection: chdb.createChdbConnection({ path: folder }) as never
          }),
        catch: (error) =>
          SourceError.fatal(
            PLUGIN,
            `cannot open the embedded ClickHouse in ${folder} (${(error as Error).message}); chdb runs one engine per process, so every chdb: source of one runner must name the same folder`,
            error
          )
      }),
      closeClient
    )
    return { client, kind: "chdb" as const, target: `embedded ClickHouse in ${folder}` }
  })

const openHttp = (config: TransportConfig, baseDir: string): Effect.Effect<Transport, SourceError, Scope.Scope> =>
  Effect.gen(function* () {
    let url: URL
    try {
      url = new URL(config.url)
    } catch (error) {
      return yield* Effect.fail(
        SourceError.fatal(PLUGIN, `url is neither http(s)://host:port nor chdb:<folder>; fix the source's url`, error)
      )
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      return yield* Effect.fail(
        SourceError.fatal(PLUGIN, `url must start with http://, https:// or chdb:, found ${url.protocol}; fix the source's url`)
      )
    }
    if (url.username !== "" || url.password !== "") {
      return yield* Effect.fail(
        SourceError.fatal(PLUGIN, "url carries credentials; put the user in username and the password in password (a secret, e.g. ${CLICKHOUSE_PASSWORD}) instead")
      )
    }
    const tls = config.tls
    const ca = tls?.caFile === undefined ? undefined : yield* readTlsFile(baseDir, "caFile", tls.caFile)
    const cert = tls?.certFile === undefined ? undefined : yield* readTlsFile(baseDir, "certFile", tls.certFile)
    const key = tls?.keyFile === undefined ? undefined : yield* readTlsFile(baseDir, "keyFile", tls.keyFile)
    if ((cert === undefined) !== (key === undefined)) {
      return yield* Effect.fail(SourceError.fatal(PLUGIN, "tls.certFile and tls.keyFile go together (client certificate authentication); set both or neither"))
    }
    if (cert !== undefined && ca === undefined) {
      return yield* Effect.fail(SourceError.fatal(PLUGIN, "tls.certFile needs tls.caFile too (the client library requires the CA for mutual TLS); set caFile"))
    }
    const client = yield* Effect.acquireRelease(
      Effect.try({
        try: () =>
          createClient({
            ...baseOptions,
            url: displayUrl(url),
            username: config.username,
            password: config.password ?? "",
            request_timeout: Math.max(1, Math.round(Duration.toMillis(config.requestTimeout))),
            // One query at a time per source; a second socket serves `check` beside a read.
            max_open_connections: 2,
            ...(ca === undefined ? {} : { tls: cert !== undefined && key !== undefined ? { ca_cert: ca, cert, key } : { ca_cert: ca } })
          }),
        catch: (error) => SourceError.fatal(PLUGIN, `cannot create the ClickHouse client for ${displayUrl(url)} (${(error as Error).message}); check the url`, error)
      }),
      closeClient
    )
    return { client, kind: "http" as const, target: displayUrl(url) }
  })

/**
 * A `@clickhouse/client` on an embedded ClickHouse (chDB) in `folder` (created if missing): for demos,
 * tests and benchmarks that write FeatBit rows the source then reads. Needs the optional package chdb;
 * chdb runs one engine per process, so every client of a process must name the same folder.
 */
export const createEmbeddedClient = async (folder: string): Promise<ClickHouseClient> => {
  const chdb = await Effect.runPromise(loadChdb)
  if (folder !== ":memory:") fs.mkdirSync(folder, { recursive: true })
  return createClient({ ...baseOptions, connection: chdb.createChdbConnection({ path: folder }) as never })
}

/** Opens the client the url asks for, in the given scope: it is closed when the scope closes. */
export const openTransport = (config: TransportConfig, baseDir: string): Effect.Effect<Transport, SourceError, Scope.Scope> =>
  isChdbUrl(config.url) ? openChdb(config, baseDir) : openHttp(config, baseDir)
