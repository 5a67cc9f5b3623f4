import type { Cursor, ExportEvent, FeatBitRow, Rejection, Source, SourcePage } from "@featbit-export/core"
import { SourceError, decodeFeatBitRow } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Stream from "effect/Stream"
import { type GenerateOptions, generateRows, generateRowsAfter } from "./Generator.js"
import { defaultEnvIds, defaultStart } from "./Pools.js"

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
 * Throws a `RangeError` for invalid options.
 */
export const makeGenerateSource = (config: GenerateSourceConfig): Source => {
  // Fails here, at configuration time, rather than in the middle of a run.
  generateRows(config)
  const configProblem = config.pageSize === undefined ? undefined : pageSizeProblem(config.pageSize)
  if (configProblem !== undefined) throw new RangeError(configProblem)
  const envCount = (config.envIds ?? defaultEnvIds).length
  const malformedEvery = config.malformedEvery ?? 0
  return {
    read: (from, options) =>
      Stream.suspend(() => {
        const pageSize = config.pageSize ?? options.pageSize
        const problem = pageSizeProblem(pageSize)
        if (problem !== undefined) return Stream.fail(SourceError.fatal("generate", problem))
        // One page per chunk: a page is already a batch, and larger chunks would build pages ahead of demand.
        return Stream.fromIteratorSucceed(pagesOf(generateRowsAfter(config, from), pageSize), 1)
      }),
    check: Effect.succeed([
      `generates ${config.count} synthetic FeatBit events (seed ${config.seed ?? 1}) across ${envCount} ` +
        `environment${envCount === 1 ? "" : "s"}, starting at ${config.start ?? defaultStart}, ` +
        `about 70% FlagValue and 30% metrics, up to ${config.maxTie ?? 4} per timestamp` +
        ((config.tieBurst ?? 0) > 0 ? `, the first ${config.tieBurst} sharing one timestamp` : "") +
        (malformedEvery === 0 ? "" : `, every ${malformedEvery === 1 ? "" : ordinal(malformedEvery) + " "}row malformed`)
    ])
  }
}

const ordinal = (n: number): string => {
  const tens = n % 100
  const suffix = tens >= 11 && tens <= 13 ? "th" : n % 10 === 1 ? "st" : n % 10 === 2 ? "nd" : n % 10 === 3 ? "rd" : "th"
  return `${n}${suffix}`
}
