import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"
import { EventKind } from "./Event.js"
import type { PluginConfigIssue } from "./Plugin.js"
import type { Selection } from "./Selection.js"
import { DateTimeSetting, DurationSetting, PositiveInt } from "./Settings.js"
import type { Timestamp } from "./Timestamp.js"

/** The largest `batchSize` a database source accepts: a page is held in memory whole. */
export const MAX_BATCH_SIZE = 100_000

/**
 * The default `lag`. A pass reads rows up to the store's clock minus `lag`, so rows still on their way (an
 * SDK flushing every few seconds, FeatBit's queue, ClickHouse's Kafka engine writing blocks every 7.5 s)
 * land ahead of the cursor and are read as ordinary rows.
 */
export const DEFAULT_LAG = Duration.seconds(30)

/** The default `lateWindow`: rows landing up to an hour behind the cursor are still exported. */
export const DEFAULT_LATE_WINDOW = Duration.hours(1)

/**
 * The keys every database source shares, with one schema and one description each: which rows
 * (`envIds`/`envId`, `events`, `startAt`, `endAt`), how far behind the store's clock a pass stops (`lag`),
 * how far behind the cursor late rows are still exported (`lateWindow`), and the page size. Spread them into
 * a source's `Schema.Struct`; `resolveSourceFilters` turns the decoded keys into `SourceFilterSettings`.
 */
export const SourceFilters = {
  // Annotations of a plain `optional` field stay off the JSON Schema, so they go on the value's schema.
  envIds: Schema.optional(
    Schema.NonEmptyArray(Schema.NonEmptyString).annotations({ description: "Only these FeatBit environment ids (default: every environment)" })
  ),
  envId: Schema.optional(
    Schema.NonEmptyString.annotations({ description: "One FeatBit environment id: a shorthand for envIds: [<id>] (use one of the two)" })
  ),
  events: Schema.optional(
    Schema.NonEmptyArray(EventKind).annotations({
      description: "Only these event kinds: FlagValue, CustomEvent, PageView, Click (default: every row, whatever its kind)"
    })
  ),
  startAt: Schema.optional(
    DateTimeSetting.annotations({
      description: "Where a pipeline without a checkpoint starts (inclusive), e.g. 2024-01-01T00:00:00Z (default: the oldest row)"
    })
  ),
  endAt: Schema.optional(
    DateTimeSetting.annotations({
      description: "Rows at or after this instant are never read: a backfill window ends here (default: none)"
    })
  ),
  lag: Schema.optionalWith(DurationSetting, { default: () => DEFAULT_LAG, exact: true }).annotations({
    description:
      "A pass reads rows up to the store's clock minus lag, so rows still arriving are not overtaken (default 30s; 0 for a store nobody writes to)"
  }),
  lateWindow: Schema.optionalWith(DurationSetting, { default: () => DEFAULT_LATE_WINDOW, exact: true }).annotations({
    description:
      "Rows that land behind the cursor by at most this much are still exported, and counted as late; later ones are reported as missed (default 1h; 0 turns the check off)"
  }),
  batchSize: Schema.optional(
    PositiveInt.pipe(Schema.lessThanOrEqualTo(MAX_BATCH_SIZE)).annotations({
      description: "Rows per page; overrides the pipeline's batch.size (default: batch.size)"
    })
  )
} satisfies Schema.Struct.Fields

/** The decoded `SourceFilters` keys, as a source's config holds them. */
export type SourceFilterConfig = Schema.Struct.Type<typeof SourceFilters>

/** What every database source reads, with `envId` folded into `envIds`. */
export interface SourceFilterSettings {
  /** Only these environments; all when undefined. */
  readonly envIds: ReadonlyArray<string> | undefined
  /** Only these event kinds; all when undefined. */
  readonly events: ReadonlyArray<string> | undefined
  /** Where a read without a committed cursor starts (inclusive). */
  readonly startAt: Timestamp | undefined
  /** Rows at or after it are never read (exclusive). */
  readonly endAt: Timestamp | undefined
  readonly lag: Duration.Duration
  /** Zero when late rows are not looked for. */
  readonly lateWindow: Duration.Duration
  /** Rows per page; the pipeline's batch size when undefined. */
  readonly batchSize: number | undefined
}

export const resolveSourceFilters = (config: SourceFilterConfig): SourceFilterSettings => ({
  envIds: config.envIds ?? (config.envId === undefined ? undefined : [config.envId]),
  events: config.events,
  startAt: config.startAt,
  endAt: config.endAt,
  lag: config.lag,
  lateWindow: config.lateWindow,
  batchSize: config.batchSize
})

/**
 * The mistakes the schema cannot see because they involve two keys: `envId` beside `envIds`, and a window
 * that selects nothing. Each names the key to change, so the pipeline file reports it at its line.
 */
export const sourceFilterIssues = (config: Partial<SourceFilterConfig>): ReadonlyArray<PluginConfigIssue> => {
  const issues: Array<PluginConfigIssue> = []
  if (config.envId !== undefined && config.envIds !== undefined) {
    issues.push({ path: ["envId"], message: "envId and envIds are both given; keep one (envId: <id> is a shorthand for envIds: [<id>])" })
  }
  if (config.startAt !== undefined && config.endAt !== undefined && config.endAt <= config.startAt) {
    issues.push({ path: ["endAt"], message: `endAt (${config.endAt}) must be after startAt (${config.startAt}); fix the window` })
  }
  return issues
}

/**
 * What a database source's checkpoint remembers (`Source.selection`): the source, where it reads (`where`:
 * table or collection, cursor column; not the host, which may move), and its filters and window.
 */
export const filterSelection = (source: string, where: Readonly<Record<string, string>>, filters: SourceFilterSettings): Selection => ({
  source,
  ...where,
  envIds: filters.envIds === undefined ? null : [...filters.envIds].sort(),
  events: filters.events === undefined ? null : [...filters.events].sort(),
  startAt: filters.startAt ?? null,
  endAt: filters.endAt ?? null
})
