import { Cursor, type FeatBitRow, SourceError, decodeFeatBitRow } from "@featbit-export/core"
import type { ExportEvent, Rejection, Source, SourcePage } from "@featbit-export/core"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"

/**
 * A source over rows held in memory, in keyset order, that behaves like a real store: reads after a cursor,
 * pages, and can fail the way stores fail. Rows may be appended while a pipeline follows it.
 */
export interface MemorySource extends Source {
  /** Adds rows (kept in keyset order), as new events landing in the store. */
  readonly append: (rows: ReadonlyArray<FeatBitRow>) => void
  /** The next `count` page reads fail with this error (then reads succeed again). */
  readonly failReads: (count: number, error: SourceError) => void
  /** Number of pages served so far. */
  readonly pagesServed: () => number
}

export const makeMemorySource = (initial: ReadonlyArray<FeatBitRow> = []): MemorySource => {
  const rows: Array<FeatBitRow> = [...initial].sort((a, b) => Cursor.compare(a, b))
  let pendingFailures: Array<SourceError> = []
  let served = 0

  const pageAfter = (from: Cursor.Cursor | undefined, size: number): Effect.Effect<Option.Option<SourcePage>, SourceError> =>
    Effect.suspend(() => {
      const failure = pendingFailures.shift()
      if (failure !== undefined) return Effect.fail(failure)
      let start = 0
      if (from !== undefined) while (start < rows.length && Cursor.compare(rows[start]!, from) <= 0) start++
      const slice = rows.slice(start, start + size)
      if (slice.length === 0) return Effect.succeed(Option.none())
      const events: Array<ExportEvent> = []
      const rejected: Array<Rejection> = []
      for (const row of slice) Either.match(decodeFeatBitRow(row), { onLeft: (r) => rejected.push(r), onRight: (e) => events.push(e) })
      served += 1
      return Effect.succeed(Option.some({ events, rejected, cursor: Cursor.of(slice[slice.length - 1]!) }))
    })

  return {
    read: (from, { pageSize }) =>
      Stream.paginateChunkEffect(from, (cursor) =>
        pageAfter(cursor, pageSize).pipe(
          Effect.map(
            Option.match({
              onNone: () => [Chunk.empty<SourcePage>(), Option.none<Cursor.Cursor | undefined>()] as const,
              onSome: (page) => [Chunk.of(page), Option.some<Cursor.Cursor | undefined>(page.cursor)] as const
            })
          )
        )
      ),
    check: Effect.succeed([`${rows.length} rows in memory`]),
    append: (more) => {
      rows.push(...more)
      rows.sort((a, b) => Cursor.compare(a, b))
    },
    failReads: (count, error) => {
      pendingFailures = Array.from({ length: count }, () => error)
    },
    pagesServed: () => served
  }
}

/** A transient read failure, as a dropped connection would give. */
export const transientReadError = (): SourceError => SourceError.transient("memory", "connection reset (injected)")
