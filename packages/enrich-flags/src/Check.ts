import type { EnrichSetting, SourceError } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { CatalogueReader } from "./CatalogueReader.js"

/** An environment id no FeatBit has: reading it proves the connection, the rights and the table, with no flags. */
const PROBE_ENV = "00000000-0000-0000-0000-000000000000"

/**
 * What `check` says of a pipeline's enrichment: the catalogue of each environment it can name (the source's
 * `envIds`, the evaluation server's `secrets`) is read, so a wrong url, token or secret shows before an export.
 * Without one, a database catalogue is read for an environment that does not exist (connection, rights, table);
 * the Open API and the evaluation server need an environment to be asked about.
 */
export const checkCatalogue = (
  setting: EnrichSetting,
  reader: CatalogueReader,
  sourceEnvIds: ReadonlyArray<string> | undefined
): Effect.Effect<ReadonlyArray<string>, SourceError, Scope.Scope> =>
  Effect.gen(function* () {
    const flags = setting.flags
    const named = new Set([...(sourceEnvIds ?? []), ...(flags.type === "evaluation-server" ? Object.keys(flags.secrets) : [])])
    if (named.size === 0) {
      if (flags.type === "postgres" || flags.type === "mongo") {
        yield* reader.read(PROBE_ENV)
        return [`FeatBit's flags can be read from ${flags.type === "postgres" ? "feature_flags" : flags.collection} (set the source's envIds to check each environment's)`]
      }
      return ["no environment to read FeatBit's flags of: set the source's envIds to check them"]
    }
    const counts: Array<string> = []
    for (const envId of named) counts.push(`${envId}: ${(yield* reader.read(envId)).size} flags`)
    return [`FeatBit's flags read (${counts.join(", ")})`]
  })
