import * as Effect from "effect/Effect"
import type { SinkError } from "./Errors.js"
import type { ExportEvent } from "./Event.js"
import type { RejectedEvent } from "./Sink.js"

/** How a table sink writes a run of rows, and how it tells a row the destination refused from a failed write. */
export interface RefusedRowSearch<Row extends { readonly event: ExportEvent }> {
  /** Writes these rows in one request or transaction, all or none; the destination's own error on failure. */
  readonly write: (rows: ReadonlyArray<Row>) => Effect.Effect<void, unknown>
  /** The destination refused a row's data (a value, a constraint), not the connection or the table. */
  readonly isRefusal: (error: unknown) => boolean
  /** The index in `rows` of the row the destination named, where it names one; otherwise the rows are searched by halves. */
  readonly locate: (error: unknown, rows: ReadonlyArray<Row>) => number | undefined
  /** The dead-letter reason of one refused row. */
  readonly reason: (error: unknown, row: Row) => string
  /** The write failed for another reason (transient or fatal, as the destination's error says). */
  readonly failed: (error: unknown, rows: ReadonlyArray<Row>) => SinkError
  /** The writes after the first ran out while rows were still refused: the table, not the rows, is wrong. */
  readonly exhausted: (error: unknown) => SinkError
  /** Writes tried after the first before the run counts as refused as a whole. */
  readonly maxWrites: number
}

/**
 * Writes `rows`, setting aside each row the destination refuses (for the dead-letter file) and writing the rest
 * again, so one bad value does not hold back its batch. `firstError`: the first write of these rows was already
 * made (streamed while they were encoded, say) and failed with it.
 */
export const writeSettingAsideRefused = <Row extends { readonly event: ExportEvent }>(
  search: RefusedRowSearch<Row>,
  rows: ReadonlyArray<Row>,
  firstError?: { readonly error: unknown }
): Effect.Effect<Array<RejectedEvent>, SinkError> =>
  Effect.suspend(() => {
    const rejected: Array<RejectedEvent> = []
    let writesLeft = search.maxWrites
    const attempt = (part: ReadonlyArray<Row>): Effect.Effect<void, SinkError> =>
      part.length === 0 ? Effect.void : search.write(part).pipe(Effect.catchAll((error) => afterFailure(part, error)))
    const retry = (part: ReadonlyArray<Row>, cause: unknown): Effect.Effect<void, SinkError> =>
      Effect.suspend(() => {
        if (part.length === 0) return Effect.void
        writesLeft -= 1
        return writesLeft < 0 ? Effect.fail(search.exhausted(cause)) : attempt(part)
      })
    const afterFailure = (part: ReadonlyArray<Row>, error: unknown): Effect.Effect<void, SinkError> => {
      if (!search.isRefusal(error)) return Effect.fail(search.failed(error, part))
      if (part.length === 1) {
        rejected.push({ event: part[0]!.event, reason: search.reason(error, part[0]!) })
        return Effect.void
      }
      const at = search.locate(error, part)
      if (at !== undefined && Number.isInteger(at) && at >= 0 && at < part.length) {
        rejected.push({ event: part[at]!.event, reason: search.reason(error, part[at]!) })
        return retry([...part.slice(0, at), ...part.slice(at + 1)], error)
      }
      const half = Math.ceil(part.length / 2)
      return Effect.zipRight(retry(part.slice(0, half), error), retry(part.slice(half), error))
    }
    const written = firstError === undefined ? attempt(rows) : afterFailure(rows, firstError.error)
    return Effect.as(written, rejected)
  })
