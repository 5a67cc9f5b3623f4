import type * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
import type { Cursor } from "./Cursor.js"
import type { SourceError } from "./Errors.js"
import type { ExportEvent } from "./Event.js"
import type { Rejection } from "./FeatBitRow.js"
import type { StoreTime } from "./Horizon.js"
import type { BucketCount } from "./LateRows.js"
import type { Timestamp } from "./Timestamp.js"

/** A keyset position: a row's timestamp and id. */
export interface Position {
  readonly timestamp: Timestamp
  readonly id: string
}

/**
 * Rows of one range, in keyset order. The lower bound is `after` (exclusive) or `from` (inclusive) or the
 * oldest row; the upper bound is `before` (exclusive), and `through` (inclusive) when given.
 */
export interface RangeRequest {
  readonly after?: Cursor | undefined
  readonly from?: Timestamp | undefined
  readonly before: Timestamp
  readonly through?: Position | undefined
  /**
   * Only rows the store took in since this mark (a `StoreTime.mark` of an earlier pass), when the store can
   * tell (`StoreReader.narrows`); a store that cannot returns the whole range.
   */
  readonly since?: string | undefined
  /**
   * Only rows in these time buckets (`floor(ms / width)`): a `"span"` store's read again of scattered grown
   * buckets in one range. Other stores never receive it.
   */
  readonly buckets?: { readonly width: number; readonly indexes: ReadonlyArray<number> } | undefined
}

/** One page of a range: its events, its undecodable rows, the last row's cursor, and every row's timestamp. */
export interface RangePage {
  readonly events: ReadonlyArray<ExportEvent>
  readonly rejected: ReadonlyArray<Rejection>
  readonly cursor: Cursor
  /** The timestamps of all rows of the page (decoded or not), in keyset order: late-row counts need them. */
  readonly times: ReadonlyArray<Timestamp>
}

/** Rows per time bucket of `width` ms (bucket = `floor(ms / width)`), over the same bounds as a RangeRequest. */
export interface CountRequest {
  readonly from?: Timestamp | undefined
  readonly before?: Timestamp | undefined
  readonly through?: Position | undefined
  readonly width: number
}

/**
 * What a database source says about its store; `readPass` does the rest (the horizon, late rows, audits).
 * Every query applies the source's own filters (environments, kinds).
 */
export interface StoreReader {
  /** The store's clock (and mark), read once at the start of each pass. */
  readonly storeTime: Effect.Effect<StoreTime, SourceError>
  readonly read: (request: RangeRequest, pageSize: number) => Stream.Stream<RangePage, SourceError>
  /** Counts rows per bucket; served by an index on the timestamp, never a scan of the table. */
  readonly count: (request: CountRequest) => Effect.Effect<ReadonlyArray<BucketCount>, SourceError>
  /**
   * Whether `RangeRequest.since` narrows a read to the rows taken in since a mark, and how reading again is
   * best split: `"span"` where a range costs about the rows it returns (a columnar store: one range from the
   * first grown bucket to the cursor), `"runs"` where it costs the rows it looks at (a row store: one range
   * per run of neighbouring grown buckets), `false` where it cannot narrow (grown buckets are read whole).
   */
  readonly narrows: false | "span" | "runs"
}
