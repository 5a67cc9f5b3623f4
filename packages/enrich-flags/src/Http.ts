import { SourceError } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import { ENRICH } from "./CatalogueReader.js"

const REQUEST_TIMEOUT_MS = 15_000

/** One GET of a FeatBit API with a raw `Authorization` value; a request that gets no answer is transient. */
export const getText = (url: string, authorization: string, say: (text: string) => string): Effect.Effect<{ readonly status: number; readonly body: string }, SourceError> =>
  Effect.tryPromise({
    try: async (signal) => {
      const response = await fetch(url, { headers: { Authorization: authorization }, signal: AbortSignal.any([signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]) })
      return { status: response.status, body: await response.text() }
    },
    catch: (cause) => SourceError.transient(ENRICH, say(`cannot be reached (${cause instanceof Error ? cause.message : String(cause)})`), cause)
  })

/**
 * The failure an answer that is not 200 means: a refusal of the credentials is fatal with `refused`, a busy
 * or failing server (429, 5xx) transient, anything else fatal with `hint`.
 */
export const statusFailure = (status: number, body: string, say: (text: string) => string, refused: string, hint: string): SourceError => {
  if (status === 401 || status === 403) return SourceError.fatal(ENRICH, say(`${refused.replace("{status}", String(status))}`))
  if (status === 429 || status >= 500) return SourceError.transient(ENRICH, say(`HTTP ${status} ${body.slice(0, 200)}`))
  return SourceError.fatal(ENRICH, say(`HTTP ${status} ${body.slice(0, 200)}; ${hint}`))
}
