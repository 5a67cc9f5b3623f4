import { SinkError, Secrets } from "@featbit-export/core"

export const PLUGIN = "azure-blob"

/** Where the sink writes and what must never be shown of it. */
export interface Target {
  /** `https://account.blob.core.windows.net/container`, without any SAS. */
  readonly where: string
  readonly container: string
  readonly secrets: ReadonlyArray<string>
}

interface RestLike {
  readonly statusCode?: number
  readonly code?: string
  readonly name?: string
  readonly message?: string
}

/** The service's answers that a busy or failing server gives, worth the same request again. */
const TRANSIENT_CODES = new Set(["ServerBusy", "OperationTimedOut", "InternalError"])

/**
 * A request that got no answer: the SDK's RestError without a status carries Node's socket code (ECONNREFUSED for
 * a closed port), or REQUEST_SEND_ERROR when the socket gave none. Any other error without a status is not the
 * network's, and retrying it would fail the same way forever.
 */
const NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EAI_AGAIN", "ECONNABORTED", "EHOSTUNREACH", "ENETUNREACH", "REQUEST_SEND_ERROR"])

/** The storage service's answer as a typed failure, transient or fatal, with one sentence of what to do. */
export const classify = (error: unknown, target: Target, doing: string): SinkError => {
  const scrubber = Secrets.scrubberOf(target.secrets, { minLength: 1 })
  const rest = (typeof error === "object" && error !== null ? error : {}) as RestLike
  const status = rest.statusCode
  const code = rest.code ?? rest.name ?? "error"
  const said = Secrets.excerpt(String(rest.message ?? error).split("\n")[0] ?? "", scrubber)
  const at = `Azure Blob Storage at ${target.where}`
  const transient = (text: string) => SinkError.transient(PLUGIN, scrubber.scrub(text), { cause: error })
  const fatal = (text: string) => SinkError.fatal(PLUGIN, scrubber.scrub(text), error)
  // The SDK's abort for requestTimeout's signal, or the signal's own TimeoutError where one escapes unwrapped.
  if (rest.name === "AbortError" || rest.name === "TimeoutError") return transient(`${at} did not answer in time while ${doing} (requestTimeout); retrying`)
  if (status === undefined)
    return NETWORK_CODES.has(code)
      ? transient(`${at} failed while ${doing} (no answer ${code}: ${said})`)
      : fatal(`${at}: an unexpected error while ${doing} (${code}: ${said}); this is a bug, report it`)
  if (status === 404 && code === "ContainerNotFound") return fatal(`${at}: container ${target.container} does not exist; create it (az storage container create --name ${target.container}) or fix container`)
  if (status === 403)
    return fatal(`${at} refused the credentials while ${doing} (${code}: ${said}); check connectionString, accountKey or sasToken (a SAS needs create and write permissions, and must not have expired)`)
  if (TRANSIENT_CODES.has(code) || status === 408 || status === 429 || status >= 500) return transient(`${at} failed while ${doing} (${status} ${code}: ${said})`)
  return fatal(`${at} refused ${doing} (${status} ${code}: ${said})`)
}
