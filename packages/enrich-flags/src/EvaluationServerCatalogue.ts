import { Secrets, SourceError } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { type Catalogue, type StoredFlag, catalogueOf } from "./Catalogue.js"
import { ENRICH, type CatalogueReader } from "./CatalogueReader.js"
import { getText, statusFailure } from "./Http.js"

/**
 * FeatBit's flags as a server SDK reads them: `GET /api/public/sdk/server/latest-all?timestamp=0` with the
 * environment's server secret gives every flag of the environment, archived ones included (server SDKs keep
 * evaluating archived flags, so their events need them). A full read each time: the server never says that a
 * flag was deleted.
 */
export const evaluationServerCatalogue = (options: {
  readonly url: string
  readonly secrets: Readonly<Record<string, Redacted.Redacted<string>>>
}): CatalogueReader => {
  const endpoint = `${options.url.replace(/\/+$/, "")}/api/public/sdk/server/latest-all?timestamp=0`
  const scrubber = Secrets.scrubberOf(Object.values(options.secrets).map(Redacted.value), { minLength: 1 })
  const say = (text: string) => `FeatBit's evaluation server at ${options.url}: ${scrubber.scrub(text)}`
  const read = (envId: string): Effect.Effect<Catalogue, SourceError> => {
    const secret = options.secrets[envId]
    // No secret for this environment: its flags stay unknown (counted), as the file asked nothing of them.
    if (secret === undefined) return Effect.succeed(new Map())
    return getText(endpoint, Redacted.value(secret), say).pipe(Effect.flatMap(({ status, body }) => decide(status, body, envId)))
  }

  const decide = (status: number, body: string, envId: string): Effect.Effect<Catalogue, SourceError> => {
    if (status !== 200) {
      return Effect.fail(
        statusFailure(
          status,
          body,
          say,
          `refused the server secret of environment ${envId} (HTTP {status}); set enrich.flags.secrets.${envId} to that environment's server secret`,
          "check enrich.flags.url (FeatBit's evaluation server, port 5100 by default)"
        )
      )
    }
    const flags = flagsOf(body)
    if (flags === undefined) {
      return Effect.fail(SourceError.fatal(ENRICH, say(`answered with something that is not FeatBit's data-sync message (${body.slice(0, 120)}); check enrich.flags.url`)))
    }
    return Effect.succeed(catalogueOf(flags))
  }
  return { read }
}

/** The flags of a `data-sync` message, when the body is one. */
const flagsOf = (body: string): ReadonlyArray<StoredFlag> | undefined => {
  try {
    const message = JSON.parse(body) as { messageType?: unknown; data?: { featureFlags?: unknown } }
    const flags = message?.data?.featureFlags
    if (message?.messageType !== "data-sync" || !Array.isArray(flags)) return undefined
    return flags.filter((f): f is StoredFlag => typeof f === "object" && f !== null && typeof (f as StoredFlag).key === "string")
  } catch {
    return undefined
  }
}
