import { Secrets, SinkError } from "@featbit-export/core"
import type * as Duration from "effect/Duration"
import type { EventHubTarget } from "./target.js"

export const PLUGIN = "eventhub"

const CONNECTION_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"])

/** The target's secrets (the connection string, its key), in every encoding (`Secrets.secretForms`). */
const scrubberOf = (secrets: ReadonlyArray<string>): Secrets.Scrubber => Secrets.scrubberOf(secrets, { minLength: 1, mask: "<redacted>" })

/** Maps an error of the Azure SDK to a `SinkError` whose message never contains a secret. */
export const classify = (
  cause: unknown,
  target: Pick<EventHubTarget, "where" | "secrets">,
  options: { readonly serverBusyWait: Duration.Duration; readonly doing: string }
): SinkError => {
  // After its own retries the SDK throws an AggregateError of each attempt's error: the last one counts.
  const errors = (cause as { errors?: unknown } | null | undefined)?.errors
  if (Array.isArray(errors) && errors.length > 0) {
    const last = classify(errors[errors.length - 1], target, options)
    return new SinkError({ plugin: PLUGIN, message: last.message, retryable: last.retryable, retryAfter: last.retryAfter, cause })
  }
  const error = (typeof cause === "object" && cause !== null ? cause : {}) as { code?: unknown; name?: unknown; message?: unknown; retryable?: unknown }
  const code = typeof error.code === "string" ? error.code : typeof error.name === "string" ? error.name : "Error"
  // Scrubbed whole before it is cut to 300 characters: a cut secret would no longer be recognised.
  const said = scrubberOf(target.secrets)
    .scrub(typeof error.message === "string" ? error.message : String(cause))
    .replace(/(SharedAccessKey|SharedAccessSignature|sig)=[^;&\s]+/gi, "$1=<redacted>").slice(0, 300)
  const at = `Event Hubs ${target.where}`
  switch (code) {
    case "MessagingEntityNotFoundError":
      return SinkError.fatal(PLUGIN, `${at} does not exist (${code}): check the hub's name (sink.hub or EntityPath=) and the namespace`, cause)
    case "UnauthorizedError":
      return SinkError.fatal(
        PLUGIN,
        `${at} refused the credentials while ${options.doing} (${code}): check the shared access key in sink.connectionString or sink.sasKey; its policy needs the Send claim`,
        cause
      )
    case "QuotaExceededError":
      return SinkError.fatal(PLUGIN, `${at} refused the send, a quota is exhausted (${code}: ${said}): raise the namespace's throughput or processing units, or its tier`, cause)
    case "MessageTooLargeError":
      return SinkError.fatal(PLUGIN, `${at} refused a batch as too large (${code}: ${said})`, cause)
    case "ServerBusyError":
      return SinkError.transient(PLUGIN, `${at} is busy while ${options.doing} (${code}: ${said})`, { cause, retryAfter: options.serverBusyWait })
  }
  if (CONNECTION_CODES.has(code) || error.retryable === true || code === "AbortError") {
    return SinkError.transient(PLUGIN, `${at} failed while ${options.doing} (${code}: ${said})`, { cause })
  }
  if (error.name === "MessagingError" && error.retryable !== false) {
    return SinkError.transient(PLUGIN, `${at} failed while ${options.doing} (${code}: ${said})`, { cause })
  }
  return SinkError.fatal(PLUGIN, `${at} failed while ${options.doing} (${code}: ${said})`, cause)
}
