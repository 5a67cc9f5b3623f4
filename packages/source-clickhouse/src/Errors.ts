import { Secrets, SourceError } from "@featbit-export/core"

/** The plugin name every error of this source carries. */
export const PLUGIN = "clickhouse"

/** What an error message needs to say what to fix. */
export interface ErrorContext {
  /** Where the source reads: `http://host:8123` (never with credentials) or `embedded ClickHouse in /dir`. */
  readonly target: string
  readonly username: string
  readonly database: string
  readonly table: string
  /**
   * Removed from every message, in every encoding (`Secrets.secretForms`), should a server, a proxy or a
   * library ever echo them: the password and `username:password`, which HTTP Basic sends base64-encoded.
   */
  readonly secrets: ReadonlyArray<string>
}

/** A ClickHouse exception: its numeric code, its name when the server sent one, and its text. */
export interface ServerException {
  readonly code: number
  readonly type: string | undefined
  readonly text: string
}

// New servers: "Code: 60. DB::Exception: Unknown table ... (UNKNOWN_TABLE) (version 23.7.1.2470)".
// Old servers (18.16): "Code: 193, e.displayText() = DB::Exception: Wrong password for user default, e.what() = DB::Exception".
const exceptionText = /(?:Code|Error): (\d+)[.,]\s*(?:e\.displayText\(\) = )?(?:DB::Exception: )?([\s\S]*)/

const stripServerNoise = (text: string): string =>
  text
    .replace(/, e\.what\(\) = DB::Exception\s*$/, "")
    .replace(/\s*\(version [^)]*\)\s*$/, "")
    .replace(/\s+/g, " ")
    .trim()

/**
 * A response that ended without a complete, well-formed result: the connection was cut, or ClickHouse
 * appended an exception to a response it had already started with HTTP 200 (servers before 25.11 write it
 * as text at the end of the body, or as an `exception` key in JSON formats). Always transient: the page is
 * read again from the last cursor.
 */
export class IncompleteResponse extends Error {
  constructor(readonly detail: string) {
    super(detail)
    this.name = "IncompleteResponse"
  }
}

/** Reads a ClickHouse exception out of a client error or a response text; `undefined` when it is none. */
export const serverException = (error: unknown): ServerException | undefined => {
  if (typeof error !== "object" || error === null) {
    return typeof error === "string" ? fromText(error) : undefined
  }
  const code = (error as { code?: unknown }).code
  const type = (error as { type?: unknown }).type
  const message = (error as { message?: unknown }).message
  // @clickhouse/client's ClickHouseError: code is the number as text, type the exception's name.
  if (typeof code === "string" && /^\d+$/.test(code) && typeof message === "string") {
    return { code: Number(code), type: typeof type === "string" ? type : undefined, text: stripServerNoise(message) }
  }
  return typeof message === "string" ? fromText(message) : undefined
}

const fromText = (text: string): ServerException | undefined => {
  const match = exceptionText.exec(text)
  if (match === null) return undefined
  const body = stripServerNoise(match[2] ?? "")
  const typed = /\(([A-Z][A-Z0-9_]{2,})\)\s*$/.exec(body)
  return {
    code: Number(match[1]),
    type: typed?.[1],
    text: typed === null ? body : body.slice(0, typed.index).trim()
  }
}

const AUTH = new Set([192, 193, 194, 195, 516]) // UNKNOWN_USER, WRONG_PASSWORD, REQUIRED_PASSWORD, IP_ADDRESS_NOT_ALLOWED, AUTHENTICATION_FAILED
const ACCESS = new Set([497, 164]) // ACCESS_DENIED, READONLY
const UNKNOWN_DATABASE = 81
const UNKNOWN_TABLE = 60
const MISSING_COLUMN = new Set([47, 16, 10]) // UNKNOWN_IDENTIFIER, NO_SUCH_COLUMN_IN_TABLE, NOT_FOUND_COLUMN_IN_BLOCK
const UNKNOWN_SETTING = 115
const UNKNOWN_FUNCTION = 46
/** Errors a retry cannot cure: the query and the table do not fit together, or the server is too old. */
const SCHEMA = new Set([
  36, // BAD_ARGUMENTS
  43, // ILLEGAL_TYPE_OF_ARGUMENT
  44, // ILLEGAL_COLUMN
  46, // UNKNOWN_FUNCTION
  48, // NOT_IMPLEMENTED
  50, // UNKNOWN_TYPE
  53, // TYPE_MISMATCH
  62, // SYNTAX_ERROR
  386, // NO_COMMON_TYPE
  456, // UNKNOWN_QUERY_PARAMETER
  457 // BAD_QUERY_PARAMETER
])

/** Node's network failures: the server is down, restarting, or the network dropped the connection. */
const NETWORK = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EAI_AGAIN",
  "ENOTFOUND",
  "UND_ERR_SOCKET",
  "ERR_STREAM_PREMATURE_CLOSE"
])

const TLS = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_OSSL_)/

const errnoOf = (error: unknown): string | undefined => {
  const code = typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined
  return typeof code === "string" && !/^\d+$/.test(code) ? code : undefined
}

const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : typeof error === "string" ? error : String(error)

/**
 * Removes the configured secrets, in every encoding, from a message; the one place every message passes
 * through. Secrets of 3 characters and more: a source's messages are short sentences, where masking a
 * coincidence costs a word, not a record.
 */
export const redact = (text: string, secrets: ReadonlyArray<string>): string => Secrets.scrubberOf(secrets, { minLength: 3 }).scrub(text)

/** At most `max` characters of what a server or proxy said, scrubbed first. */
const clip = (text: string, secrets: ReadonlyArray<string>, max = 300): string => Secrets.excerpt(text, Secrets.scrubberOf(secrets, { minLength: 3 }), max)

/** The table as a person writes it: `featbit.events`. */
export const tableName = (context: Pick<ErrorContext, "database" | "table">): string => `${context.database}.${context.table}`

/**
 * Turns whatever a query threw into the source's typed error: transient when reading again may work
 * (network, timeouts, server busy or restarting, a response cut short), fatal with one sentence saying what
 * to fix when it cannot (credentials, a missing database, table or column, permissions, configuration).
 * `doing` names the step, e.g. "reading featbit.events".
 */
export const classify = (error: unknown, context: ErrorContext, doing: string): SourceError => {
  if (error instanceof SourceError) return error
  const fatal = (message: string) => SourceError.fatal(PLUGIN, redact(message, context.secrets), error)
  const transient = (message: string) => SourceError.transient(PLUGIN, redact(message, context.secrets), error)
  const where = context.target
  const table = tableName(context)
  const quote = (text: string) => clip(text, context.secrets)

  const errno = errnoOf(error)
  if (errno !== undefined && TLS.test(errno)) {
    return fatal(`cannot open a TLS connection to ${where} (${errno}: ${quote(messageOf(error))}); check the url and the tls settings (caFile)`)
  }
  if (errno === "ENOTFOUND") {
    return transient(`cannot resolve the host of ${where} while ${doing} (${errno}); check the url if this persists`)
  }
  if (errno === "ECONNREFUSED") {
    return transient(`cannot connect to ClickHouse at ${where} while ${doing}: connection refused (is the server running?)`)
  }
  if (errno !== undefined && NETWORK.has(errno)) {
    return transient(`the connection to ClickHouse at ${where} failed while ${doing} (${errno}: ${quote(messageOf(error))})`)
  }
  if (error instanceof IncompleteResponse || error instanceof SyntaxError) {
    return transient(`the response from ClickHouse at ${where} was incomplete while ${doing}: ${quote(error.message)}`)
  }

  const exception = serverException(error)
  if (exception !== undefined) {
    const { code, text } = exception
    const name = exception.type === undefined ? `code ${code}` : `${exception.type}, code ${code}`
    const said = `${quote(text)} (${name})`
    if (AUTH.has(code)) {
      return fatal(
        `ClickHouse at ${where} refused the credentials of user "${context.username}": ${said}; fix the source's username and password`
      )
    }
    if (ACCESS.has(code)) {
      return fatal(`user "${context.username}" may not read ${table} on ${where}: ${said}; grant it SELECT on ${table}, or use another user`)
    }
    if (code === UNKNOWN_DATABASE) {
      return fatal(`the database "${context.database}" does not exist on ${where}: ${said}; set the source's database (FeatBit uses featbit)`)
    }
    if (code === UNKNOWN_TABLE) {
      return fatal(
        `the table ${table} does not exist on ${where}: ${said}; set the source's table (FeatBit Pro writes events, read through distributed_events when replication is on)`
      )
    }
    if (MISSING_COLUMN.has(code)) {
      return fatal(`${table} on ${where} lacks a column this source reads: ${said}; is it FeatBit's events table?`)
    }
    if (code === UNKNOWN_SETTING && /param_/.test(text)) {
      return fatal(
        `ClickHouse at ${where} does not support query parameters, which this source binds every value with: it needs ClickHouse 22.x or newer (FeatBit ships 23.7)`
      )
    }
    if (code === UNKNOWN_FUNCTION && /now64/.test(text)) {
      return fatal(
        `ClickHouse at ${where} has no now64(), which this source reads the server's clock with, nor the query parameters it binds every value with: it needs ClickHouse 22.x or newer (FeatBit ships 23.7)`
      )
    }
    if (SCHEMA.has(code)) {
      return fatal(`ClickHouse at ${where} rejected the query while ${doing}: ${said}; check that ${table} is FeatBit's events table and the server is 22.x or newer`)
    }
    return transient(`ClickHouse at ${where} failed while ${doing}: ${said}`)
  }

  const message = messageOf(error)
  if (message === "Timeout error.") {
    return transient(`ClickHouse at ${where} did not answer in time while ${doing} (request timeout); a smaller batchSize or a longer requestTimeout may help if this persists`)
  }
  if (/socket hang up|aborted|premature close|other side closed/i.test(message)) {
    return transient(`the connection to ClickHouse at ${where} was closed while ${doing} (${quote(message)})`)
  }
  // Anything else came from something between us and ClickHouse (a proxy's 502/503 page, an empty 5xx body)
  // or from an unexpected place: retried, and the retry policy bounds how long.
  return transient(`ClickHouse at ${where} failed while ${doing}: ${quote(message.trim() === "" ? "an empty error response" : message)}`)
}
