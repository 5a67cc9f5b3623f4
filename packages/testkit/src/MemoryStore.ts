import {
  Cursor,
  type CountRequest,
  type ExportEvent,
  type FeatBitRow,
  type Position,
  type RangePage,
  type RangeRequest,
  type LateRows,
  type Rejection,
  type StoreReader,
  Timestamp,
  decodeFeatBitRow
} from "@featbit-export/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Stream from "effect/Stream"

/**
 * A store held in memory that answers core's StoreReader as a database does: a clock the test sets, keyset
 * ranges, per-bucket counts, and reads narrowed to rows inserted since a mark (an insert sequence number,
 * like PostgreSQL's xmin). For testing `readPass` and the engine without a server.
 */
export interface MemoryStore extends StoreReader {
  /** Inserts rows now: they are "taken in" after every mark read so far. */
  readonly insert: (rows: ReadonlyArray<FeatBitRow>) => void
  /** Inserts rows that claim to have been taken in at an old mark (a misleading ingest time). */
  readonly insertBackdated: (rows: ReadonlyArray<FeatBitRow>, mark: number) => void
  /** Deletes rows by id (a retention job). */
  readonly remove: (ids: ReadonlyArray<string>) => void
  /** Sets the store's clock, in ms since the epoch. */
  readonly setClock: (ms: number) => void
  /** Every range request and count request received, in order. */
  readonly requests: Array<{ readonly kind: "read"; readonly request: RangeRequest } | { readonly kind: "count"; readonly request: CountRequest }>
}

interface Stored {
  readonly row: FeatBitRow
  readonly seq: number
}

const millis = (timestamp: Timestamp.Timestamp) => Date.parse(timestamp.slice(0, 23) + "Z")

export const makeMemoryStore = (options: { readonly narrows?: StoreReader["narrows"]; readonly clock?: number } = {}): MemoryStore => {
  let rows: Array<Stored> = []
  let seq = 0
  let clock = options.clock ?? Date.now()
  const requests: MemoryStore["requests"] = []

  const inRange = (row: FeatBitRow, range: { after?: Position | undefined; from?: Timestamp.Timestamp | undefined; before?: Timestamp.Timestamp | undefined; through?: Position | undefined }) =>
    (range.after === undefined || Cursor.compare(row, range.after) > 0) &&
    (range.from === undefined || row.timestamp >= range.from) &&
    (range.before === undefined || row.timestamp < range.before) &&
    (range.through === undefined || Cursor.compare(row, range.through) <= 0)

  const sorted = () => [...rows].sort((a, b) => Cursor.compare(a.row, b.row))

  return {
    storeTime: Effect.sync(() => ({ now: Timestamp.fromMillis(clock), mark: String(seq) })),
    read: (request, pageSize) =>
      Stream.suspend(() => {
        requests.push({ kind: "read", request })
        const since = options.narrows !== undefined && options.narrows !== false && request.since !== undefined ? Number(request.since) : undefined
        const buckets = request.buckets === undefined ? undefined : new Set(request.buckets.indexes)
        const width = request.buckets?.width ?? 1
        const selected = sorted().filter(
          (stored) =>
            inRange(stored.row, request) &&
            (since === undefined || stored.seq > since) &&
            (buckets === undefined || buckets.has(Math.floor(millis(stored.row.timestamp) / width)))
        )
        const pages: Array<RangePage> = []
        for (let start = 0; start < selected.length; start += pageSize) {
          const slice = selected.slice(start, start + pageSize).map((stored) => stored.row)
          const events: Array<ExportEvent> = []
          const rejected: Array<Rejection> = []
          for (const row of slice) Either.match(decodeFeatBitRow(row), { onLeft: (r) => rejected.push(r), onRight: (e) => events.push(e) })
          pages.push({ events, rejected, cursor: Cursor.of(slice[slice.length - 1]!), times: slice.map((row) => row.timestamp) })
        }
        return Stream.fromIterable(pages)
      }),
    count: (request) =>
      Effect.sync(() => {
        requests.push({ kind: "count", request })
        const counts = new Map<number, number>()
        for (const { row } of rows) {
          if (!inRange(row, request)) continue
          const bucket = Math.floor(millis(row.timestamp) / request.width)
          counts.set(bucket, (counts.get(bucket) ?? 0) + 1)
        }
        return [...counts].map(([bucket, count]): LateRows.BucketCount => ({ bucket, rows: count }))
      }),
    narrows: options.narrows ?? false,
    insert: (more) => {
      seq += 1
      rows = [...rows, ...more.map((row) => ({ row, seq }))]
    },
    insertBackdated: (more, mark) => {
      rows = [...rows, ...more.map((row) => ({ row, seq: mark - 1 }))]
    },
    remove: (ids) => {
      const gone = new Set(ids)
      rows = rows.filter((stored) => !gone.has(stored.row.id))
    },
    setClock: (ms) => {
      clock = ms
    },
    requests
  }
}
