import { Secrets, SinkError } from "@featbit-export/core"

export const PLUGIN = "clickhouse"

/** What a message needs to say what to fix, and what it must never contain. */
export interface Target {
  /** `http://host:8123` (never with credentials) or `embedded ClickHouse in /dir`. */
  readonly where: string
  readonly username: string
  /** `database.table` */
  readonly table: string
  readonly secrets: ReadonlyArray<string>
}

const AUTH = new Set([192, 193, 194, 195, 516])
const ACCESS = new Set([497, 164])
/** Busy, overloaded or restarting: another attempt later may work. */
const BUSY = new Set([159, 202, 203, 209, 210, 241, 242, 252, 285, 319, 425, 999, 1000, 394, 236])
/** One row's text does not fit its column: the row, not the batch, is refused. */
export const ROW_REFUSED = new Set([6, 26, 27, 38, 41, 69, 70, 72, 117, 131, 376, 457, 531, 27])
const NETWORK = /^(ECONNREFUSED|ECONNRESET|ECONNABORTED|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENETDOWN|EAI_AGAIN|ENOTFOUND|UND_ERR_SOCKET|ERR_STREAM_PREMATURE_CLOSE)$/
const TLS = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_OSSL_)/

/** The ClickHouse exception code of a client error (`ClickHouseError.code` is the number as text), if any. */
export const exceptionCode = (error: unknown): number | undefined => {
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code === "string" && /^\d+$/.test(code)) return Number(code)
  const text = (error as { message?: unknown } | null)?.message
  const match = typeof text === "string" ? /^Code: (\d+)\./.exec(text) : null
  return match === null ? undefined : Number(match[1])
}

const errnoOf = (error: unknown): string | undefined => {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === "string" && !/^\d+$/.test(code) ? code : undefined
}

/**
 * Turns what a ClickHouse call threw into the sink's typed error: transient when the same insert may succeed
 * later (network, timeouts, busy, 5xx from a proxy), fatal with one sentence saying what to fix otherwise.
 * Every message is scrubbed of the password in every encoding.
 */
export const classify = (error: unknown, target: Target, doing: string): SinkError => {
  if (error instanceof SinkError) return error
  const scrubber = Secrets.scrubberOf(target.secrets, { minLength: 3 })
  const message = error instanceof Error ? error.message : String(error)
  const said = Secrets.excerpt(message.replace(/\s*\(version [^)]*\)\s*$/, "").replace(/\s+/g, " ").trim() || "an empty error response", scrubber, 300)
  const fatal = (text: string) => SinkError.fatal(PLUGIN, scrubber.scrub(text), error)
  const transient = (text: string) => SinkError.transient(PLUGIN, scrubber.scrub(text), { cause: error })
  const at = `ClickHouse at ${target.where}`
  const errno = errnoOf(error)
  if (errno !== undefined && TLS.test(errno)) return fatal(`cannot open a TLS connection to ${target.where} (${errno}: ${said}); check the sink's url and tls settings`)
  if (errno === "ECONNREFUSED") return transient(`cannot connect to ${at} while ${doing}: connection refused (is the server running?)`)
  if (errno !== undefined && NETWORK.test(errno)) return transient(`the connection to ${at} failed while ${doing} (${errno}: ${said})`)
  const code = exceptionCode(error)
  if (code !== undefined) {
    const name = `${(error as { type?: unknown }).type ?? "code"} ${code}`
    if (AUTH.has(code)) return fatal(`${at} refused the credentials of user "${target.username}" (${name}: ${said}); fix the sink's username and password`)
    if (ACCESS.has(code)) return fatal(`user "${target.username}" may not write ${target.table} on ${target.where} (${name}: ${said}); grant it INSERT on ${target.table} (and CREATE TABLE with createTable), or use another user`)
    if (code === 81) return fatal(`the database of ${target.table} does not exist on ${target.where} (${name}); create it or fix the sink's database`)
    if (code === 60) return fatal(`the table ${target.table} does not exist on ${target.where} (${name}); set createTable: true or fix the sink's table`)
    if (code === 16 || code === 47 || code === 10) return fatal(`${target.table} lacks a column this sink writes (${name}: ${said}); run \`featbit-export check\` and fix the table or the sink's columns`)
    if (BUSY.has(code)) return transient(`${at} is busy while ${doing} (${name}: ${said})`)
    if (ROW_REFUSED.has(code) || code === 53 || code === 62 || code === 36) return fatal(`${at} refused the data while ${doing} (${name}: ${said}); run \`featbit-export check\` to compare ${target.table} with the columns this sink writes`)
    return transient(`${at} failed while ${doing} (${name}: ${said})`)
  }
  if (message === "Timeout error.") return transient(`${at} did not answer in time while ${doing} (requestTimeout); a smaller maxBytes or a longer requestTimeout may help if this persists`)
  // Anything else came from between us and ClickHouse (a proxy's 502/503 page, a socket hang up): retried.
  return transient(`${at} failed while ${doing} (${said})`)
}
