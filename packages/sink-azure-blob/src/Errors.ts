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

const TRANSIENT_CODES = new Set(["ServerBusy", "OperationTimedOut", "InternalError", "REQUEST_SEND_ERROR", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EAI_AGAIN"])

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
  if (rest.name === "AbortError") return transient(`${at} did not answer in time while ${doing} (requestTimeout); retrying`)
  if (status === 404 && code === "ContainerNotFound") return fatal(`${at}: container ${target.container} does not exist; create it (az storage container create --name ${target.container}) or fix container`)
  if (status === 403)
    return fatal(`${at} refused the credentials while ${doing} (${code}: ${said}); check connectionString, accountKey or sasToken (a SAS needs create and write permissions, and must not have expired)`)
  if (TRANSIENT_CODES.has(code) || status === undefined || status === 408 || status === 429 || status >= 500)
    return transient(`${at} failed while ${doing} (${status ?? "no answer"} ${code}: ${said})`)
  return fatal(`${at} refused ${doing} (${status} ${code}: ${said})`)
}
