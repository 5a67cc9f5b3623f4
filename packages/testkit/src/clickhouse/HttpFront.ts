// A ClickHouse HTTP interface in front of the embedded engine, with fault injection (shared by the
// ClickHouse source's and sink's tests).
//
// It speaks what @clickhouse/client sends and what a ClickHouse server answers (clickhouse.com docs,
// "HTTP Interface"): POST / with the SQL as the body, `param_<name>` query parameters, settings and
// `query_id` in the URL, Basic auth (or X-ClickHouse-User / X-ClickHouse-Key); 200 with the formatted
// result and the X-ClickHouse-* headers, or an error status with `Code: N. DB::Exception: ...` and
// X-ClickHouse-Exception-Code. Queries run in chDB; only the wire in between is this file's.
import { type IncomingMessage, type ServerResponse, createServer } from "node:http"
import { createServer as createHttpsServer } from "node:https"
import type { AddressInfo } from "node:net"

/** What a request gets instead of a plain answer. */
export type Fault =
  /** An error status with a non-ClickHouse body, as a proxy or a server shutting down sends (e.g. 503). */
  | { readonly kind: "status"; readonly status: number; readonly body?: string }
  /** The connection is dropped before any response: the client sees "socket hang up". */
  | { readonly kind: "reset" }
  /** 200 and the first part of the body, then the connection is dropped mid-stream. */
  | { readonly kind: "cut" }
  /**
   * 200 and the first part of the body, then an exception as text and a clean end: how servers before
   * 25.11 report a query that fails after its response has started.
   */
  | { readonly kind: "exception-after-200" }
  /** No answer at all until the front closes: the client's request timeout fires. */
  | { readonly kind: "stall" }
  /**
   * The query runs to its end in the engine (an INSERT is stored), then the connection is dropped before
   * any response: the client cannot tell whether it ran, as when a server or a proxy dies mid-answer.
   */
  | { readonly kind: "reset-after" }

export interface FrontRequest {
  /** 1-based count of the requests that passed authentication. */
  readonly n: number
  readonly sql: string
  readonly params: Readonly<Record<string, string>>
  readonly settings: Readonly<Record<string, string>>
  readonly fault: Fault | undefined
}

export interface HttpFront {
  readonly url: string
  readonly requests: Array<FrontRequest>
  /** Decides, per request, whether it fails and how. */
  fault: (request: Omit<FrontRequest, "fault">) => Fault | undefined
  readonly close: () => Promise<void>
}

/**
 * What the front needs of the engine behind it: `exec` of `@clickhouse/client`'s client (typed here so that
 * the test kit does not depend on the client library; pass a `ClickHouseClient` on chDB).
 */
export interface FrontEngine {
  readonly exec: (params: {
    readonly query: string
    readonly clickhouse_settings?: Record<string, string>
  }) => Promise<{ readonly stream: AsyncIterable<unknown> }>
}

const VERSION = "26.7.2.1"
/** URL keys that are not settings (everything else but `param_*` is a setting). */
const NOT_SETTINGS = new Set(["query", "query_id", "database", "user", "password", "default_format", "session_id", "role"])

const readBody = async (request: IncomingMessage): Promise<string> => {
  const chunks: Array<Buffer> = []
  for await (const chunk of request) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString("utf8")
}

const credentials = (request: IncomingMessage, url: URL): { user: string; password: string } => {
  const header = request.headers.authorization
  if (header !== undefined && header.startsWith("Basic ")) {
    const decoded = Buffer.from(header.slice(6), "base64").toString("utf8")
    const colon = decoded.indexOf(":")
    return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) }
  }
  const user = (request.headers["x-clickhouse-user"] as string | undefined) ?? url.searchParams.get("user") ?? "default"
  const password = (request.headers["x-clickhouse-key"] as string | undefined) ?? url.searchParams.get("password") ?? ""
  return { user, password }
}

/** A value from the URL (ClickHouse's escaped text form) as an SQL string literal for `SET param_x = '...'`. */
const literal = (value: string): string => "'" + value.replace(/\\/g, "\\\\").replace(/'/g, "\\'") + "'"

const exceptionBody = (code: number, message: string, type: string): string =>
  `Code: ${code}. DB::Exception: ${message}. (${type}) (version ${VERSION})\n`

/** HTTP statuses ClickHouse gives some exceptions; everything else is 500. */
const statusOf = (code: number): number => (code === 516 || code === 193 ? 401 : code === 497 ? 403 : code === 60 || code === 81 ? 404 : code === 62 ? 400 : 500)

const sendException = (response: ServerResponse, code: number, message: string, type: string) => {
  response.writeHead(statusOf(code), {
    "Content-Type": "text/plain; charset=UTF-8",
    "X-ClickHouse-Exception-Code": String(code),
    "X-ClickHouse-Server-Display-Name": "front"
  })
  response.end(exceptionBody(code, message, type))
}

export const startHttpFront = async (options: {
  /** Runs the queries; a front without one only answers /ping and refuses logins (tests of what a refusal lets through). */
  readonly engine?: FrontEngine
  /** user -> password; default: only "default" with an empty password. */
  readonly users?: Readonly<Record<string, string>>
  /**
   * Refused logins quote what they were sent, as a misbehaving proxy in front of ClickHouse does: the
   * Authorization header, and the credentials it carries decoded, JSON-quoted and URL-encoded.
   */
  readonly echoCredentials?: boolean
  /** Serve HTTPS with this certificate (PEM) instead of HTTP. */
  readonly tls?: { readonly key: string; readonly cert: string }
}): Promise<HttpFront> => {
  const users = options.users ?? { default: "" }
  const requests: Array<FrontRequest> = []
  const stalled = new Set<ServerResponse>()
  let count = 0

  const front: HttpFront = {
    url: "",
    requests,
    fault: () => undefined,
    close: async () => {
      for (const response of stalled) response.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeAllConnections()
    }
  }

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? "/", "http://front")
    if (url.pathname === "/ping") {
      response.writeHead(200, { "Content-Type": "text/plain; charset=UTF-8" })
      response.end("Ok.\n")
      return
    }
    const body = await readBody(request)
    const { user, password } = credentials(request, url)
    if (users[user] === undefined || users[user] !== password) {
      const sent = `${user}:${password}`
      const echo = options.echoCredentials === true
        ? ` (you sent Authorization: ${request.headers.authorization ?? "none"}, that is ${sent}, ${JSON.stringify(sent)} as JSON, ${encodeURIComponent(sent)} URL-encoded)`
        : ""
      sendException(response, 516, `${user}: Authentication failed: password is incorrect, or there is no user with such name${echo}`, "AUTHENTICATION_FAILED")
      return
    }
    const sql = [url.searchParams.get("query") ?? "", body].filter((part) => part !== "").join("\n")
    const params: Record<string, string> = {}
    const settings: Record<string, string> = {}
    for (const [key, value] of url.searchParams) {
      if (key.startsWith("param_")) params[key.slice("param_".length)] = value
      else if (!NOT_SETTINGS.has(key)) settings[key] = value
    }
    count += 1
    const seen = { n: count, sql, params, settings }
    const fault = front.fault(seen)
    requests.push({ ...seen, fault })

    if (fault?.kind === "reset") {
      request.socket.destroy()
      return
    }
    if (fault?.kind === "status") {
      response.writeHead(fault.status, { "Content-Type": "text/html" })
      response.end(fault.body ?? `<html><body><h1>${fault.status} Service Unavailable</h1></body></html>`)
      return
    }
    if (fault?.kind === "stall") {
      stalled.add(response)
      return
    }

    // SET param_<name> gives the engine exactly the server's semantics: the value is parsed from its text.
    const database = url.searchParams.get("database")
    const statements = [
      ...(database === null ? [] : [`USE \`${database.replace(/\\/g, "\\\\").replace(/`/g, "\\`")}\``]),
      ...Object.entries(params).map(([name, value]) => `SET param_${name} = ${literal(value)}`),
      sql
    ]
    let output: Buffer
    try {
      if (options.engine === undefined) throw new Error("this front has no engine behind it")
      // The URL's settings (insert_deduplication_token, ...) apply to the query, as on a server.
      const result = await options.engine.exec({ query: statements.join(";\n"), clickhouse_settings: settings })
      const chunks: Array<Buffer> = []
      for await (const chunk of result.stream) chunks.push(Buffer.from(chunk as Buffer))
      output = Buffer.concat(chunks)
    } catch (error) {
      const e = error as { code?: string; type?: string; message?: string }
      sendException(response, Number(e.code ?? 1002), (e.message ?? String(error)).replace(/\.\s*$/, ""), e.type ?? "UNKNOWN_EXCEPTION")
      return
    }

    if (fault?.kind === "reset-after") {
      request.socket.destroy()
      return
    }
    const format = /FORMAT\s+(\w+)\s*$/i.exec(sql)?.[1] ?? "TabSeparated"
    response.writeHead(200, {
      "Content-Type": format.startsWith("JSON") ? "application/json; charset=UTF-8" : "text/tab-separated-values; charset=UTF-8",
      "X-ClickHouse-Query-Id": url.searchParams.get("query_id") ?? "",
      "X-ClickHouse-Format": format,
      "X-ClickHouse-Timezone": "UTC",
      "X-ClickHouse-Server-Display-Name": "front",
      "X-ClickHouse-Summary": JSON.stringify({ read_rows: "0", read_bytes: "0", written_rows: "0", written_bytes: "0", total_rows_to_read: "0" })
    })
    if (fault?.kind === "cut") {
      response.write(output.subarray(0, Math.floor(output.length / 2)))
      // Let the first part reach the client, then drop the connection mid-body.
      setTimeout(() => request.socket.destroy(), 5)
      return
    }
    if (fault?.kind === "exception-after-200") {
      response.write(output.subarray(0, Math.floor(output.length * 0.6)))
      response.end(
        "\n" +
          exceptionBody(241, "Memory limit (for query) exceeded: would use 9.32 GiB (attempt to allocate chunk of 4194304 bytes), maximum: 9.31 GiB", "MEMORY_LIMIT_EXCEEDED")
      )
      return
    }
    // Chunked, in two writes, as a server streams.
    const half = Math.floor(output.length / 2)
    response.write(output.subarray(0, half))
    response.end(output.subarray(half))
  }

  const listener = (request: IncomingMessage, response: ServerResponse) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) sendException(response, 1001, String(error), "STD_EXCEPTION")
      else response.destroy()
    })
  }
  const server = options.tls === undefined ? createServer(listener) : createHttpsServer({ key: options.tls.key, cert: options.tls.cert }, listener)
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  ;(front as { url: string }).url = `${options.tls === undefined ? "http" : "https"}://127.0.0.1:${port}`
  return front
}

/** A local port nothing listens on (it was free a moment ago): connections to it are refused. */
export const closedPort = async (): Promise<number> => {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}
