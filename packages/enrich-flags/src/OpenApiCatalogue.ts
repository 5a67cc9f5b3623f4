import { Secrets, SourceError } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { type Catalogue, type StoredFlag, catalogueOf } from "./Catalogue.js"
import { ENRICH, type CatalogueReader } from "./CatalogueReader.js"
import { getText, statusFailure } from "./Http.js"

const PAGE_SIZE = 100

/**
 * FeatBit's flags from its Open API (`GET /api/v1/envs/{envId}/feature-flags`) with an access token
 * (`Authorization: api-...`, raw, no "Bearer"). `isArchived` is an equality filter there, so archived flags take
 * a pass of their own; pages are sorted by key so that they stay stable while they are read.
 */
export const openApiCatalogue = (options: { readonly url: string; readonly token: Redacted.Redacted<string> }): CatalogueReader => {
  const base = options.url.replace(/\/+$/, "")
  const scrubber = Secrets.scrubberOf([Redacted.value(options.token)], { minLength: 1 })
  const say = (text: string) => `FeatBit's Open API at ${options.url}: ${scrubber.scrub(text)}`

  const page = (envId: string, archived: boolean, index: number): Effect.Effect<{ readonly items: ReadonlyArray<StoredFlag>; readonly total: number }, SourceError> =>
    getText(
      `${base}/api/v1/envs/${encodeURIComponent(envId)}/feature-flags?pageIndex=${index}&pageSize=${PAGE_SIZE}&sortBy=key&isArchived=${archived}`,
      Redacted.value(options.token),
      say
    ).pipe(
      Effect.flatMap(({ status, body }) => {
        if (status !== 200) {
          return Effect.fail(
            statusFailure(status, body, say, "refused the access token (HTTP {status}); set enrich.flags.token to an active token allowed to read this environment's flags", "check enrich.flags.url (FeatBit's API server, port 5000 by default)")
          )
        }
        const data = pageOf(body)
        return data === undefined ? Effect.fail(SourceError.fatal(ENRICH, say(`answered with something that is not a page of flags (${body.slice(0, 120)}); check enrich.flags.url`))) : Effect.succeed(data)
      })
    )

  const all = (envId: string, archived: boolean) =>
    Effect.gen(function* () {
      const flags: Array<StoredFlag> = []
      for (let index = 0; ; index++) {
        const { items, total } = yield* page(envId, archived, index)
        flags.push(...items)
        if (items.length === 0 || flags.length >= total) return flags
      }
    })

  const read = (envId: string): Effect.Effect<Catalogue, SourceError> =>
    Effect.map(Effect.all([all(envId, false), all(envId, true)]), ([live, archived]) => catalogueOf([...live, ...archived]))
  return { read }
}

const pageOf = (body: string): { readonly items: ReadonlyArray<StoredFlag>; readonly total: number } | undefined => {
  try {
    const answer = JSON.parse(body) as { success?: unknown; data?: { totalCount?: unknown; items?: unknown } }
    const items = answer?.data?.items
    const total = answer?.data?.totalCount
    if (answer?.success !== true || !Array.isArray(items) || typeof total !== "number") return undefined
    return { items: items.filter((f): f is StoredFlag => typeof f === "object" && f !== null && typeof (f as StoredFlag).key === "string"), total }
  } catch {
    return undefined
  }
}
