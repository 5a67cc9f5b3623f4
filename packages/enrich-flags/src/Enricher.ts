import type { EventEnricher, ExportEvent, FlagValueEvent, SourceError } from "@featbit-export/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { Catalogue } from "./Catalogue.js"
import type { CatalogueReader } from "./CatalogueReader.js"

export interface EnricherOptions {
  readonly refresh: Duration.DurationInput
  /** false: while the catalogue cannot be read, events go out without the flag's name and value. */
  readonly required: boolean
  /** The clock (ms); a test's own. */
  readonly now?: () => number
}

/** What enrichment did so far, for the summary and tests. */
export interface EnrichmentCounts {
  enriched: number
  /** Flag evaluations whose flag or variation the catalogue did not know, even after reading it again. */
  unknown: number
  /** Catalogue reads, per environment and in all. */
  reads: number
}

export interface FlagEnricher extends EventEnricher {
  readonly counts: EnrichmentCounts
}

/**
 * Enrichment from a catalogue cached in memory per environment: read when an environment's first event comes,
 * again every `refresh`, and again when an unknown flag or variation shows up (at most once per `refresh` per
 * flag, so a deleted flag's events do not read the catalogue each page). An id still unknown goes out without
 * the value, counted, never blocked. Events are completed in place: the engine hands over events it owns.
 */
export const makeEnricher = (reader: CatalogueReader, options: EnricherOptions): FlagEnricher => {
  const refreshMs = Duration.toMillis(Duration.decode(options.refresh))
  const now = options.now ?? Date.now
  const cache = new Map<string, { readonly catalogue: Catalogue; readonly at: number }>()
  const lookedUpAgain = new Map<string, number>()
  const counts: EnrichmentCounts = { enriched: 0, unknown: 0, reads: 0 }
  // Said once per flag (and variation), so a deleted flag's thousands of events make one warning.
  const told = new Set<string>()

  const load = (envId: string): Effect.Effect<void, SourceError> =>
    reader.read(envId).pipe(
      Effect.tap((catalogue) =>
        Effect.sync(() => {
          counts.reads += 1
          cache.set(envId, { catalogue, at: now() })
        })
      ),
      Effect.asVoid,
      // Not required: a catalogue that cannot be read leaves this page's events as they are, and is tried again.
      (read) => (options.required ? read : Effect.catchAll(read, (error) => Effect.logWarning(`${error.message}; exporting without the flags' names and values (enrich.required is false)`)))
    )

  const lookUp = (event: FlagValueEvent) => {
    const flag = cache.get(event.envId)?.catalogue.get(event.flagKey)
    return { flag, variation: flag?.variations.get(event.variationId) }
  }

  const enrich = (events: ReadonlyArray<ExportEvent>): Effect.Effect<ReadonlyArray<ExportEvent>, SourceError> =>
    Effect.gen(function* () {
      const flags = events.filter((event): event is FlagValueEvent => event.event === "FlagValue")
      if (flags.length === 0) return events
      const t = now()
      const stale = new Set(flags.map((e) => e.envId).filter((envId) => { const c = cache.get(envId); return c === undefined || t - c.at >= refreshMs }))
      for (const envId of stale) yield* load(envId)
      // Unknown flags or variations: read their environment again, at most once per refresh per flag.
      const found = flags.map(lookUp)
      const again = new Set<string>()
      for (let i = 0; i < flags.length; i++) {
        const event = flags[i]!
        if (found[i]!.variation !== undefined || stale.has(event.envId)) continue
        const key = `${event.envId}\u0000${event.flagKey}`
        if (t - (lookedUpAgain.get(key) ?? Number.NEGATIVE_INFINITY) < refreshMs) continue
        lookedUpAgain.set(key, t)
        again.add(event.envId)
      }
      for (const envId of again) yield* load(envId)
      if (again.size > 0) for (let i = 0; i < flags.length; i++) if (again.has(flags[i]!.envId)) found[i] = lookUp(flags[i]!)
      let unknown = 0
      const news: Array<string> = []
      for (let i = 0; i < flags.length; i++) {
        const event = flags[i]!
        const { flag, variation } = found[i]!
        const target = event as { -readonly [K in keyof FlagValueEvent]: FlagValueEvent[K] }
        if (flag !== undefined) target.flagName = flag.name
        if (variation === undefined) {
          unknown += 1
          const what = flag === undefined ? `flag ${event.flagKey} of environment ${event.envId}` : `variation ${event.variationId} of flag ${event.flagKey} (environment ${event.envId})`
          if (!told.has(what) && told.size < 1_000) {
            told.add(what)
            news.push(what)
          }
          continue
        }
        target.variationName = variation.name
        target.variationValue = variation.value
      }
      counts.enriched += flags.length - unknown
      counts.unknown += unknown
      for (const what of news) {
        yield* Effect.logWarning(`${what} is not in FeatBit's flags (deleted, or another environment's?): its events go out without flagName, variationName and variationValue`)
      }
      return events
    })

  return { enrich, counts }
}
