import type { EnrichSetting, SourceError } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { CatalogueReader } from "./CatalogueReader.js"
import { evaluationServerCatalogue } from "./EvaluationServerCatalogue.js"
import { type FlagEnricher, makeEnricher } from "./Enricher.js"
import { mongoCatalogue } from "./MongoCatalogue.js"
import { openApiCatalogue } from "./OpenApiCatalogue.js"
import { postgresCatalogue } from "./PostgresCatalogue.js"

/** FeatBit's flags, as enrichment reads them. */
export { type Catalogue, type CataloguedFlag, type CataloguedVariation, type StoredFlag, castValue, catalogueOf } from "./Catalogue.js"
export { type CatalogueReader, ENRICH } from "./CatalogueReader.js"
/** The enricher: a catalogue cached per environment, refreshed on an interval and on unknown ids. */
export { type EnricherOptions, type EnrichmentCounts, type FlagEnricher, makeEnricher } from "./Enricher.js"
export { evaluationServerCatalogue } from "./EvaluationServerCatalogue.js"
export { mongoCatalogue } from "./MongoCatalogue.js"
export { openApiCatalogue } from "./OpenApiCatalogue.js"
export { postgresCatalogue } from "./PostgresCatalogue.js"

export { checkCatalogue } from "./Check.js"

/** The enricher a pipeline's `enrich:` asks for, its clients opened in the scope. */
export const openEnricher = (setting: EnrichSetting): Effect.Effect<FlagEnricher, SourceError, Scope.Scope> =>
  Effect.map(openCatalogue(setting), (reader) => makeEnricher(reader, { refresh: setting.refresh, required: setting.required }))

/** The catalogue a pipeline's `enrich.flags` names, its clients opened in the scope. */
export const openCatalogue = (setting: EnrichSetting): Effect.Effect<CatalogueReader, SourceError, Scope.Scope> =>
  Effect.gen(function* () {
    const flags = setting.flags
    const reader =
      flags.type === "postgres"
        ? yield* postgresCatalogue({ url: flags.url, schema: flags.schema })
        : flags.type === "mongo"
          ? yield* mongoCatalogue({ url: flags.url, database: flags.database, collection: flags.collection })
          : flags.type === "open-api"
            ? openApiCatalogue({ url: flags.url, token: flags.token })
            : evaluationServerCatalogue({ url: flags.url, secrets: flags.secrets })
    return reader
  })
