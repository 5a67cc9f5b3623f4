import { Secrets, SourceError } from "@featbit-export/core"

/** The plugin name every error of this source carries. */
export const PLUGIN = "mongo"

/** What an error message needs to say what to fix, and what it must never say. */
export interface ErrorContext {
  /** Where the source reads, without credentials: `mongodb://host:27017`. */
  readonly target: string
  readonly database: string
  readonly collection: string
  /** Removed from every message, in every encoding (`Secrets.secretForms`), should the driver or a server ever echo it. */
  readonly secrets: ReadonlyArray<string>
}

/** Replaces every secret in a text, in every encoding; any secret but an empty one. */
export const redact = (text: string, secrets: ReadonlyArray<string>): string => Secrets.scrubberOf(secrets, { minLength: 1 }).scrub(text)

/** At most 300 characters of what the server said, scrubbed first. */
const excerpt = (text: string, secrets: ReadonlyArray<string>): string => Secrets.excerpt(text, Secrets.scrubberOf(secrets, { minLength: 1 }))

/** The password of a connection string (as written and decoded), to keep out of messages. */
export const secretsOf = (url: string): ReadonlyArray<string> => {
  const match = /^mongodb(?:\+srv)?:\/\/[^:@/]*:([^@/]*)@/i.exec(url)
  const raw = match?.[1]
  if (raw === undefined || raw === "") return []
  let decoded = raw
  try {
    decoded = decodeURIComponent(raw)
  } catch {
    // keep the raw form
  }
  return decoded === raw ? [raw] : [raw, decoded]
}

/** The hosts of a connection string, without credentials or options: what messages name. */
export const targetOf = (url: string): string => {
  const match = /^(mongodb(?:\+srv)?:\/\/)(?:[^@/]*@)?([^/?]*)/i.exec(url)
  return match === null ? "the MongoDB url" : `${match[1]}${match[2]}`
}

// Server error codes after which reading again may succeed: a failover, a restart, a timeout, a lost cursor.
const TRANSIENT_CODES = new Set([
  6, // HostUnreachable
  7, // HostNotFound
  43, // CursorNotFound (the server restarted or the cursor timed out: the page is read again)
  50, // MaxTimeMSExpired
  89, // NetworkTimeout
  91, // ShutdownInProgress
  189, // PrimarySteppedDown
  262, // ExceededTimeLimit
  9001, // SocketException
  10107, // NotWritablePrimary
  11600, // InterruptedAtShutdown
  11602, // InterruptedDueToReplStateChange
  13435, // NotPrimaryNoSecondaryOk
  13436 // NotPrimaryOrSecondary
])
const AUTHENTICATION_FAILED = 18
const UNAUTHORIZED = 13
const NAMESPACE_NOT_FOUND = 26

const TRANSIENT_NAMES = new Set([
  "MongoNetworkError",
  "MongoNetworkTimeoutError",
  "MongoServerSelectionError",
  "MongoServerClosedError",
  "MongoTopologyClosedError",
  "MongoOperationTimeoutError",
  "MongoPoolClearedError",
  "MongoWaitQueueTimeoutError",
  "MongoCursorExhaustedError"
])

interface DriverError {
  readonly name?: unknown
  readonly message?: unknown
  readonly code?: unknown
  readonly codeName?: unknown
  readonly cause?: unknown
  readonly hasErrorLabel?: (label: string) => boolean
}

/** The server error code of an error or of the error that caused it (the driver wraps some). */
const codeOf = (error: DriverError): number | undefined => {
  if (typeof error.code === "number") return error.code
  const cause = error.cause
  if (typeof cause === "object" && cause !== null) return codeOf(cause as DriverError)
  return undefined
}

/**
 * Turns a driver error into a SourceError: network failures, timeouts, failovers and lost cursors are
 * transient (the engine reads again from the last committed page); bad credentials, missing privileges and
 * anything else a person must fix are fatal, with one sentence that says what to fix. Secrets never appear.
 */
export const classify = (error: unknown, context: ErrorContext, doing: string): SourceError => {
  const e = (typeof error === "object" && error !== null ? error : { message: String(error) }) as DriverError
  const name = typeof e.name === "string" ? e.name : "Error"
  const detail = excerpt(typeof e.message === "string" ? e.message : String(error), context.secrets)
  const code = codeOf(e)
  const where = context.target
  if (code === AUTHENTICATION_FAILED) {
    return SourceError.fatal(
      PLUGIN,
      `MongoDB at ${where} refused the credentials of the url (authentication failed) while ${doing}; check the user, the password and authSource in url`,
      error
    )
  }
  if (code === UNAUTHORIZED) {
    return SourceError.fatal(
      PLUGIN,
      `the user of the url may not read ${context.database}.${context.collection} at ${where} (${detail}); grant it the read role on ${context.database}`,
      error
    )
  }
  if (code === NAMESPACE_NOT_FOUND) {
    return SourceError.fatal(PLUGIN, `${context.database}.${context.collection} does not exist at ${where} (${detail}); set the source's database and collection`, error)
  }
  const labelled = typeof e.hasErrorLabel === "function" && (e.hasErrorLabel("RetryableReadError") || e.hasErrorLabel("ResetPool"))
  if ((code !== undefined && TRANSIENT_CODES.has(code)) || TRANSIENT_NAMES.has(name) || labelled) {
    return SourceError.transient(PLUGIN, `MongoDB at ${where} failed while ${doing} (${name}: ${detail})`, error)
  }
  if (name === "MongoParseError" || name === "MongoInvalidArgumentError" || name === "MongoAPIError") {
    return SourceError.fatal(PLUGIN, `the source's url or options are invalid (${detail}); fix url`, error)
  }
  return SourceError.fatal(PLUGIN, `MongoDB at ${where} failed while ${doing} (${name}${code === undefined ? "" : ` ${code}`}: ${detail})`, error)
}
