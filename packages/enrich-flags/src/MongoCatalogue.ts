import type { SourceError } from "@featbit-export/core"
import { openSession, secretsOf, targetOf } from "@featbit-export/source-mongo"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { type Document, UUID } from "mongodb"
import { type StoredFlag, catalogueOf } from "./Catalogue.js"
import type { CatalogueReader } from "./CatalogueReader.js"
import { relabel } from "./Relabel.js"

/**
 * FeatBit Standard's flags from its MongoDB: collection `FeatureFlags`, camelCase fields, `envId` a UUID
 * (BSON binary subtype 4, as FeatBit's GuidSerializer writes it) and variation ids plain strings. Keys are
 * unique per environment in FeatBit's code, not by an index: the newest document of a key is taken.
 */
export const mongoCatalogue = (options: {
  readonly url: Redacted.Redacted<string>
  readonly database: string
  readonly collection: string
}): Effect.Effect<CatalogueReader, SourceError, Scope.Scope> =>
  Effect.gen(function* () {
    const url = Redacted.value(options.url)
    const context = { target: targetOf(url), database: options.database, collection: options.collection, secrets: [url, ...secretsOf(url)] }
    const session = yield* openSession(url, { appName: "featbit-export" }, options.database, options.collection, context).pipe(
      Effect.mapError(relabel)
    )
    const read = (envId: string) =>
      session
        .attempt("reading FeatBit's flags", ({ collection }) =>
          collection
            .find(envFilter(envId), { projection: { _id: 0, key: 1, name: 1, variationType: 1, variations: 1, updatedAt: 1 }, sort: { updatedAt: -1 } })
            .toArray()
        )
        .pipe(
          Effect.mapError(relabel),
          Effect.map((docs) => catalogueOf(newestPerKey(docs)))
        )
    return { read }
  })

const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** FeatBit writes `envId` as a UUID; a string too is matched, should a deployment have stored it so. */
const envFilter = (envId: string): Document => (UUID_TEXT.test(envId) ? { envId: { $in: [new UUID(envId), envId] } } : { envId })

/** Documents come newest first: the first of each key wins. Malformed documents are left out of the catalogue. */
const newestPerKey = (docs: ReadonlyArray<Document>): ReadonlyArray<StoredFlag> => {
  const byKey = new Map<string, StoredFlag>()
  for (const doc of docs) {
    const key = doc["key"]
    if (typeof key !== "string" || byKey.has(key)) continue
    const variations = Array.isArray(doc["variations"])
      ? (doc["variations"] as ReadonlyArray<Document>).flatMap((v) =>
          typeof v["id"] === "string" && typeof v["value"] === "string" ? [{ id: v["id"], value: v["value"], name: typeof v["name"] === "string" ? v["name"] : null }] : []
        )
      : null
    byKey.set(key, { key, name: typeof doc["name"] === "string" ? doc["name"] : key, variationType: String(doc["variationType"] ?? "string"), variations })
  }
  return [...byKey.values()]
}
