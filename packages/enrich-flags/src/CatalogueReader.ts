import type { SourceError } from "@featbit-export/core"
import type * as Effect from "effect/Effect"
import type { Catalogue } from "./Catalogue.js"

/** Reads one environment's flags from wherever FeatBit keeps them. */
export interface CatalogueReader {
  readonly read: (envId: string) => Effect.Effect<Catalogue, SourceError>
}

/** The plugin name enrichment failures carry, in messages and dead letters. */
export const ENRICH = "enrich.flags"
