import { Secrets, SourceError } from "@featbit-export/core"

/** The plugin name every error of this source carries. */
export const PLUGIN = "postgres"

/** What an error message needs to say what to fix. */
export interface ErrorContext {
  /** `host:port/database` (never with credentials). */
  readonly target: string
  readonly user: string
  readonly database: string
  /** `"schema"."table"`. */
  readonly table: string
  /** Removed from every message, in every encoding (`Secrets.secretForms`), should a server or library ever echo it. */
  readonly secrets: ReadonlyArray<string>
}

/** Replaces every secret in a text, in every encoding; any secret but an empty one. */
export const redact = (text: string, secrets: ReadonlyArray<string>): string => Secrets.scrubberOf(secrets, { minLength: 1 }).scrub(text)

/** At most 300 characters of what the server said, scrubbed first. */
const excerpt = (text: string, secrets: ReadonlyArray<string>): string => Secrets.excerpt(text, Secrets.scrubberOf(secrets, { minLength: 1 }))

/** SQLSTATEs after which reading again from the last cursor may succeed. */
const TRANSIENT_SQLSTATES = new Set([
  "57P01", // admin_shutdown (pg_terminate_backend, server stopping)
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now (starting up, recovery)
  "57014", // query_canceled (statement_timeout, pg_cancel_backend)
  "53300", // too_many_connections
  "53000", // insufficient_resources
  "53200", // out_of_memory
  "40001", // serialization_failure
  "40P01", // deadlock_detected
  "55P03" // lock_not_available
])

/** Node socket error codes of a network that failed (or a server that went away). */
const TRANSIENT_SOCKET_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EAI_AGAIN",
  "ENOTFOUND"
])

/** pg's own messages for a connection that died or a client-side timeout. */
const TRANSIENT_MESSAGES = /Connection terminated|connection timeout|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|Connection ended|socket hang up|read ECONNRESET/i

const fieldOf = (error: unknown, key: string): string | undefined => {
  if (typeof error !== "object" || error === null) return undefined
  const value = (error as Record<string, unknown>)[key]
  return typeof value === "string" ? value : undefined
}

/**
 * Turns a failure of the `pg` driver into a SourceError. Connection exceptions (`08xxx`), shutdowns
 * (`57P01`..`57P03`), too many connections, cancelled queries, socket errors and timeouts are transient: the
 * engine reads again from the last committed page. Bad credentials, an unknown database, table or column,
 * missing privileges and anything else a person must fix are fatal, with one sentence that says what to fix.
 * The password never appears.
 */
/** The SQLSTATE of an error the server sent (pg puts socket errnos in the same field: those are not SQLSTATEs). */
export const sqlstateOf = (error: unknown): string | undefined => {
  const code = fieldOf(error, "code")
  return code !== undefined && /^[0-9A-Z]{5}$/.test(code) && !code.startsWith("E") ? code : undefined
}

/**
 * Whether the same statement may succeed later: a connection exception (`08xxx`), a shutdown, too many
 * connections, a cancelled query, a serialization failure or deadlock, a socket error or a client timeout.
 */
export const isTransientPgError = (error: unknown): boolean => {
  const code = sqlstateOf(error)
  if (code !== undefined) return code.startsWith("08") || TRANSIENT_SQLSTATES.has(code)
  const errno = fieldOf(error, "code")
  return (errno !== undefined && TRANSIENT_SOCKET_CODES.has(errno)) || TRANSIENT_MESSAGES.test(fieldOf(error, "message") ?? String(error))
}

export const classify = (error: unknown, context: ErrorContext, doing: string): SourceError => {
  if (error instanceof SourceError) return error
  const code = fieldOf(error, "code")
  const raw = fieldOf(error, "message") ?? String(error)
  const detail = excerpt(raw, context.secrets)
  const where = `PostgreSQL at ${context.target}`
  const fatal = (message: string) => SourceError.fatal(PLUGIN, redact(message, context.secrets), error)
  const transient = (message: string) => SourceError.transient(PLUGIN, redact(message, context.secrets), error)

  if (code !== undefined && /^[0-9A-Z]{5}$/.test(code) && !code.startsWith("E")) {
    if (code.startsWith("08") || TRANSIENT_SQLSTATES.has(code)) {
      return transient(`${where} failed while ${doing} (SQLSTATE ${code}: ${detail})`)
    }
    if (code === "28P01" || code === "28000") {
      return fatal(
        `${where} refused user "${context.user}" (SQLSTATE ${code}: ${detail}); fix the source's user and password (or url), and check pg_hba.conf allows this client`
      )
    }
    if (code === "3D000") {
      return fatal(`the database "${context.database}" does not exist on ${where} (${detail}); set the source's database (or the url's path)`)
    }
    if (code === "42P01" || code === "3F000") {
      return fatal(`the table ${context.table} does not exist in ${context.database} on ${where} (${detail}); set the source's schema and table (FeatBit Standard writes public.events)`)
    }
    if (code === "42501") {
      return fatal(
        `user "${context.user}" may not read ${context.table} on ${where} (${detail}); run GRANT USAGE ON SCHEMA and GRANT SELECT ON ${context.table} TO "${context.user}"`
      )
    }
    if (code === "42703") {
      return fatal(`${context.table} on ${where} lacks a column this source reads (${detail}); point the source at FeatBit's events table`)
    }
    return fatal(`${where} failed while ${doing} (SQLSTATE ${code}: ${detail})`)
  }
  if ((code !== undefined && TRANSIENT_SOCKET_CODES.has(code)) || TRANSIENT_MESSAGES.test(raw)) {
    return transient(`${where} failed while ${doing} (${code === undefined ? "" : code + ": "}${detail})`)
  }
  return fatal(`${where} failed while ${doing} (${detail})`)
}
