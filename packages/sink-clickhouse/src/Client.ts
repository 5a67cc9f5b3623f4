import { type ClickHouseClient, ClickHouseLogLevel, createClient } from "@clickhouse/client"
import { SinkError } from "@featbit-export/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as path from "node:path"
import type { ClickHouseSinkConfig } from "./Config.js"
import { PLUGIN } from "./Errors.js"

export interface Connection {
  readonly client: ClickHouseClient
  readonly kind: "http" | "chdb"
  /** Where it writes, for messages: never with credentials. */
  readonly where: string
}

// In a variable, so that TypeScript and bundlers leave the optional peer alone.
const CHDB = "chdb/connection"

const fail = (message: string, cause?: unknown) => Effect.fail(SinkError.fatal(PLUGIN, message, cause))

const openChdb = (url: string, baseDir: string) =>
  Effect.gen(function* () {
    const rest = url.slice("chdb:".length).replace(/^\/\/(?=\/)/, "")
    const folder = rest === ":memory:" ? rest : path.resolve(baseDir, rest)
    const module = yield* Effect.tryPromise({
      try: () => import(CHDB) as Promise<{ createChdbConnection: (options: { path: string }) => unknown }>,
      catch: (cause) =>
        SinkError.fatal(PLUGIN, "a chdb: url needs the optional package chdb (embedded ClickHouse): install it beside featbit-export with `npm install chdb`, or point url at a server (http://host:8123)", cause)
    })
    if (folder !== ":memory:") fs.mkdirSync(folder, { recursive: true })
    const client = createClient({ application: "featbit-export", log: { level: ClickHouseLogLevel.OFF }, connection: module.createChdbConnection({ path: folder }) as never })
    return { client, kind: "chdb" as const, where: `embedded ClickHouse in ${folder}` }
  })

const openHttp = (config: ClickHouseSinkConfig, password: string, baseDir: string) =>
  Effect.gen(function* () {
    const url = yield* Effect.try({ try: () => new URL(config.url), catch: (cause) => SinkError.fatal(PLUGIN, "url is neither http(s)://host:port nor chdb:<folder>; fix the sink's url", cause) })
    if (url.protocol !== "http:" && url.protocol !== "https:") return yield* fail(`url must start with http://, https:// or chdb:, found ${url.protocol}; fix the sink's url`)
    if (url.username !== "" || url.password !== "") return yield* fail("url carries credentials; put the user in username and the password in password (${CLICKHOUSE_PASSWORD}) instead")
    const read = (key: string, file: string | undefined) =>
      file === undefined
        ? Effect.succeed(undefined)
        : Effect.try({ try: () => fs.readFileSync(path.resolve(baseDir, file)), catch: (cause) => SinkError.fatal(PLUGIN, `cannot read tls.${key} ${path.resolve(baseDir, file)}; fix the path`, cause) })
    const ca = yield* read("caFile", config.tls?.caFile)
    const cert = yield* read("certFile", config.tls?.certFile)
    const key = yield* read("keyFile", config.tls?.keyFile)
    if ((cert === undefined) !== (key === undefined)) return yield* fail("tls.certFile and tls.keyFile go together (client certificate authentication); set both or neither")
    if (cert !== undefined && ca === undefined) return yield* fail("tls.certFile needs tls.caFile too (the client library requires the CA for mutual TLS); set caFile")
    const where = `${url.protocol}//${url.host}${url.pathname === "/" ? "" : url.pathname}`
    const client = createClient({
      application: "featbit-export",
      log: { level: ClickHouseLogLevel.OFF },
      url: where,
      username: config.username,
      password,
      request_timeout: Math.max(1, Math.round(Duration.toMillis(config.requestTimeout))),
      max_open_connections: 8,
      ...(ca === undefined ? {} : { tls: cert !== undefined && key !== undefined ? { ca_cert: ca, cert, key } : { ca_cert: ca } })
    })
    return { client, kind: "http" as const, where }
  })

/** Opens the client the url asks for in the scope: closed when the scope closes. */
export const openConnection = (config: ClickHouseSinkConfig, password: string, baseDir: string): Effect.Effect<Connection, SinkError, Scope.Scope> =>
  Effect.acquireRelease(
    config.url.startsWith("chdb:") ? (openChdb(config.url, baseDir) as Effect.Effect<Connection, SinkError>) : openHttp(config, password, baseDir),
    (connection) =>
    Effect.promise(() => connection.client.close().catch(() => undefined))
  )
