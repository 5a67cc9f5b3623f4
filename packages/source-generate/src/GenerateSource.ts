import type { Cursor, ExportEvent, FeatBitRow, Rejection, Source, SourcePage } from "@featbit-export/core"
import { SourceError, Timestamp, decodeFeatBitRow } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Stream from "effect/Stream"
import { DEFAULT_FLAGS } from "./FlagPool.js"
import { type GenerateOptions, generateRows, generateRowsAfter } from "./Generator.js"
import { defaultEnvIds, defaultStart } from "./Pools.js"
import { DEFAULT_USERS } from "./UserPool.js"

export interface GenerateSourceConfig extends GenerateOptions {
  /** Rows per page; overrides the pipeline's batch size when set. */
  readonly pageSize?: number | undefined
}

const pagesOf = function* (rows: Iterator<FeatBitRow>, pageSize: number): Generator<SourcePage, void, undefined> {
  while (true) {
    const events: Array<ExportEvent> = []
    const rejected: Array<Rejection> = []
    let last: FeatBitRow | undefined
    for (let i = 0; i < pageSize; i++) {
      const next = rows.next()
      if (next.done === true) break
      last = next.value
      const decoded = decodeFeatBitRow(last)
      if (Either.isRight(decoded)) events.push(decoded.right)
      else rejected.push(decoded.left)
    }
    if (last === undefined) return
    const cursor: Cursor.Cursor = { timestamp: last.timestamp, id: last.id }
    yield { events, rejected, cursor }
  }
}

const pageSizeProblem = (pageSize: number): string | undefined =>
  Number.isSafeInteger(pageSize) && pageSize >= 1 ? undefined : `pageSize must be a whole number of at least 1, got ${pageSize}`

/**
 * A source that reads generated rows as if they were stored in FeatBit: every read regenerates the same
 * rows from the seed and starts after the cursor, so resuming behaves exactly like a real store.
 *
 * In rate mode (`rate` set) the rows arrive over time, as in a live FeatBit: a read ends at the last row
 * stamped at or before `now` (the engine reads again after its poll interval), and `start` defaults to the
 * moment the source is made. Throws a `RangeError` for invalid options.
 */
export const makeGenerateSource = (config: GenerateSourceConfig): Source => {
  const now = config.now ?? Date.now
  // Fixed once, so that every read of this source sees the same rows.
  const options: GenerateSourceConfig =
    config.rate !== undefined && config.start === undefined ? { ...config, start: Timestamp.fromMillis(now()) } : config
  // Fails here, at configuration time, rather than in the middle of a run.
  generateRows(options)
  const configProblem = config.pageSize === undefined ? undefined : pageSizeProblem(config.pageSize)
  if (configProblem !== undefined) throw new RangeError(configProblem)
  return {
    read: (from, readOptions) =>
      Stream.suspend(() => {
        const pageSize = config.pageSize ?? readOptions.pageSize
        const problem = pageSizeProblem(pageSize)
        if (problem !== undefined) return Stream.fail(SourceError.fatal("generate", problem))
        // In rate mode the rows due by now, read once per pass, so a pass ends like a read of a live store.
        const through = options.rate === undefined ? Number.POSITIVE_INFINITY : Math.floor(now())
        // The generator is its own store: its clock is the runner's, and a pass reads up to it.
        if (through !== Number.POSITIVE_INFINITY) readOptions.onPass?.({ storeTime: Timestamp.fromMillis(through), horizon: Timestamp.fromMillis(through) })
        // One page per chunk: a page is already a batch, and larger chunks would build pages ahead of demand.
        return Stream.fromIteratorSucceed(pagesOf(generateRowsAfter(options, from, through), pageSize), 1)
      }),
    check: Effect.succeed([describe(options)])
  }
}

const describe = (options: GenerateSourceConfig): string => {
  const envCount = (options.envIds ?? defaultEnvIds).length
  const malformedEvery = options.malformedEvery ?? 0
  const amount =
    options.rate === undefined
      ? `${options.count} synthetic FeatBit events`
      : `synthetic FeatBit events at ${options.rate} a second` + (options.count === undefined ? "" : `, ${options.count} in all`)
  const ties =
    options.rate === undefined
      ? `, up to ${options.maxTie ?? 4} per timestamp` +
        ((options.tieBurst ?? 0) > 0 ? `, the first ${options.tieBurst} sharing one timestamp` : "")
      : ""
  return (
    `generates ${amount} (seed ${options.seed ?? 1}) across ${envCount} environment${envCount === 1 ? "" : "s"}, ` +
    `${options.users ?? DEFAULT_USERS} users and ${options.flags ?? DEFAULT_FLAGS} flags, starting at ${options.start ?? defaultStart}, ` +
    `about 70% FlagValue and 30% metrics` +
    ties +
    (malformedEvery === 0 ? "" : `, every ${malformedEvery === 1 ? "" : ordinal(malformedEvery) + " "}row malformed`)
  )
}

const ordinal = (n: number): string => {
  const tens = n % 100
  const suffix = tens >= 11 && tens <= 13 ? "th" : n % 10 === 1 ? "st" : n % 10 === 2 ? "nd" : n % 10 === 3 ? "rd" : "th"
  return `${n}${suffix}`
}
