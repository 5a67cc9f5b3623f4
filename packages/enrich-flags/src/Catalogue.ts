/**
 * What FeatBit knows of one environment's flags, for enrichment: by flag key, the flag's name and its
 * variations by id. FeatBit stores each variation's value as JSON text (`"true"`, `"10"`, `"{\"a\":1}"`) and
 * says how to read it in the flag's `variationType`; a variation from before mid-2023 has no name.
 */
export interface CataloguedVariation {
  readonly name: string
  readonly value: unknown
}

export interface CataloguedFlag {
  readonly name: string
  readonly variations: ReadonlyMap<string, CataloguedVariation>
}

/** One environment's flags by key. Keyed by (environment, flag key, variation id): ids repeat across cloned flags. */
export type Catalogue = ReadonlyMap<string, CataloguedFlag>

/** A flag as FeatBit stores and serves it (the fields enrichment reads; camelCase as in its JSON). */
export interface StoredFlag {
  readonly key: string
  readonly name: string
  readonly variationType: string
  readonly variations: ReadonlyArray<{ readonly id: string; readonly name?: string | null; readonly value: string }> | null
}

/** A stored value, typed by the flag's variation type; text that does not parse as its type stays text. */
export const castValue = (variationType: string, value: string): unknown => {
  switch (variationType) {
    case "boolean":
      return value === "true" ? true : value === "false" ? false : value
    case "number": {
      const n = Number(value)
      return value.trim() !== "" && Number.isFinite(n) ? n : value
    }
    case "json":
      try {
        return JSON.parse(value) as unknown
      } catch {
        return value
      }
    default:
      return value
  }
}

export const catalogueOf = (flags: ReadonlyArray<StoredFlag>): Catalogue =>
  new Map(
    flags.map((flag) => [
      flag.key,
      {
        name: flag.name,
        variations: new Map(
          (flag.variations ?? []).map((v) => [
            v.id,
            // Flags from before FeatBit had variation names (mid-2023): the value names the variation.
            { name: typeof v.name === "string" && v.name.trim() !== "" ? v.name : v.value, value: castValue(flag.variationType, v.value) }
          ])
        )
      }
    ])
  )
