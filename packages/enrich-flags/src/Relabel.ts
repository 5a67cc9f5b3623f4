import { SourceError } from "@featbit-export/core"
import { ENRICH } from "./CatalogueReader.js"

// The database sources' errors say what to fix in the source's keys; read for enrichment, the keys are enrich.flags'.
const FIXES: ReadonlyArray<readonly [string, string]> = [
  ["set the source's schema and table (FeatBit Standard writes public.events)", "set enrich.flags.schema (FeatBit keeps its flags in public.feature_flags)"],
  ["set the source's database (or the url's path)", "fix the database (the path) of enrich.flags.url"],
  ["fix the source's user and password (or url)", "fix the user and password of enrich.flags.url"],
  ["set the source's database and collection", "set enrich.flags.database and enrich.flags.collection (FeatBit keeps its flags in featbit.FeatureFlags)"],
  ["the source's url or options are invalid", "enrich.flags.url is invalid"]
]

/** A database failure said as enrichment's: named so, with the keys to fix under enrich.flags. */
export const relabel = (error: SourceError): SourceError => {
  let message = error.message
  for (const [said, meant] of FIXES) message = message.replace(said, meant)
  return new SourceError({ ...error, plugin: ENRICH, message: `FeatBit's flags: ${message}` })
}
