import {
  type Cursor,
  type ExportEvent,
  type FeatBitRow,
  type Position,
  type RangePage,
  type RangeRequest,
  type Rejection,
  SourceError,
  type StoreReader,
  Timestamp,
  decodeFeatBitRow
} from "@featbit-export/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { PLUGIN } from "./Errors.js"
import type { QueryParams, Session } from "./Query.js"

/** The columns a page is ordered on: FeatBit's event time, or ClickHouse's ingest time. */
export type CursorColumn = "timestamp" | "_timestamp"

/** What to read, decoded from the pipeline file. */
export interface ReadSettings {
  readonly database: string
  readonly table: string
  readonly cursorColumn: CursorColumn
  /** Only these environments; all when undefined. */
  readonly envIds: ReadonlyArray<string> | undefined
  /** Only these event kinds; all when undefined. */
  readonly events: ReadonlyArray<string> | undefined
}

/**
 * How far back of a mark a narrowed read looks on `_timestamp`. `_timestamp` is the Kafka message time, set
 * by FeatBit's evaluation server: the Kafka engine writes its blocks up to 7.5 s later, and the two machines'
 * clocks differ. A row that still slips past is caught by the count check (its bucket is then read whole).
 */
export const INGEST_MARGIN_SECONDS = 15

// ---------------------------------------------------------------------------------------------------------
// SQL. Every value is a bound parameter; database, table and cursor column are `Identifier` parameters. The
// text varies only in which optional conditions exist, never with what they contain.

const FROM = "FROM {db:Identifier}.{table:Identifier}"
const COL = "{col:Identifier}"

/** The optional conditions of a range, besides its time bounds. */
interface RangeShape {
  readonly after?: boolean
  readonly through?: boolean
  readonly since?: boolean
  readonly buckets?: boolean
}

const conditionsSql = (settings: ReadSettings, shape: RangeShape): string =>
  (shape.after === true ? ` AND (${COL} > {cts:DateTime64(6, 'UTC')} OR toString(uuid) > {cid:String})` : "") +
  (shape.through === true ? ` AND (${COL} < {tts:DateTime64(6, 'UTC')} OR toString(uuid) <= {tid:String})` : "") +
  (shape.since === true ? " AND _timestamp >= {since:DateTime('UTC')}" : "") +
  (shape.buckets === true ? " AND intDiv(toUnixTimestamp64Milli(timestamp), {bwidth:UInt64}) IN {bidx:Array(Int64)}" : "") +
  (settings.envIds === undefined ? "" : " AND env_id IN {envs:Array(String)}") +
  (settings.events === undefined ? "" : " AND event IN {kinds:Array(String)}")

/** The columns read, in the order `rowOf` expects them. */
export const SELECT_LIST =
  "toString(uuid) AS id, distinct_id, env_id, event, properties, toString(timestamp) AS ts, toString(_timestamp, 'UTC') AS ingested"

/** The store's clock, in UTC whatever the server's time zone. */
export const STORE_TIME_SQL = "SELECT toString(now64(6), 'UTC')"

/** The size of a range `[lo, hi)` (count first: min and max of nothing are 1970), to plan its windows. */
export const boundsSql = (settings: ReadSettings, shape: RangeShape = {}): string =>
  `SELECT count() AS n, toString(min(${COL}), 'UTC') AS first, toString(max(${COL}), 'UTC') AS last ${FROM} ` +
  `WHERE ${COL} >= {lo:DateTime64(6, 'UTC')} AND ${COL} < {hi:DateTime64(6, 'UTC')}${conditionsSql(settings, shape)}`

/**
 * One page: rows of a time window `[lo, hi)` inside a range, in the order of core's `Cursor.compare` (the
 * cursor column, then the uuid's text: ClickHouse's UUID type sorts differently).
 */
export const pageSql = (settings: ReadSettings, shape: RangeShape): string =>
  `SELECT ${SELECT_LIST} ${FROM} ` +
  `WHERE ${COL} >= {lo:DateTime64(6, 'UTC')} AND ${COL} < {hi:DateTime64(6, 'UTC')}` +
  conditionsSql(settings, shape) +
  ` ORDER BY ${COL}, toString(uuid) LIMIT {limit:UInt32}`

/** Rows per time bucket of `{width}` ms, on the event time. */
export const countSql = (settings: ReadSettings, shape: RangeShape): string =>
  `SELECT intDiv(toUnixTimestamp64Milli(timestamp), {width:UInt64}) AS bucket, count() AS n ${FROM} ` +
  `WHERE ${COL} >= {lo:DateTime64(6, 'UTC')} AND ${COL} < {hi:DateTime64(6, 'UTC')}${conditionsSql(settings, shape)} GROUP BY bucket`

export const baseParams = (settings: ReadSettings): QueryParams => ({
  db: settings.database,
  table: settings.table,
  col: settings.cursorColumn,
  ...(settings.envIds === undefined ? {} : { envs: settings.envIds }),
  ...(settings.events === undefined ? {} : { kinds: settings.events })
})

/** `2023-12-12T07:42:13.320000Z` as ClickHouse reads a `DateTime64(6, 'UTC')` parameter. */
export const toClickHouseTime = (timestamp: Timestamp.Timestamp): string => timestamp.slice(0, 10) + " " + timestamp.slice(11, 26)

const simpleMicros = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$/
const simpleSeconds = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/

/** ClickHouse's `toString` of a UTC DateTime64(6) or DateTime, as a core Timestamp; `undefined` if it is neither. */
export const fromClickHouseTime = (text: string): Timestamp.Timestamp | undefined => {
  // The fast path: what toString always writes. Anything else goes through core's careful parser.
  if (text.length === 26 && simpleMicros.test(text)) return (text.slice(0, 10) + "T" + text.slice(11) + "Z") as Timestamp.Timestamp
  if (text.length === 19 && simpleSeconds.test(text)) return (text.slice(0, 10) + "T" + text.slice(11) + ".000000Z") as Timestamp.Timestamp
  return Timestamp.parse(text)
}

// ---------------------------------------------------------------------------------------------------------
// Rows

const badRow = (detail: string) =>
  SourceError.fatal(PLUGIN, `ClickHouse returned a row this source cannot read (${detail}); is the table FeatBit's events table?`)

/** One row of a page query (columns as in SELECT_LIST) as core's FeatBitRow. */
const rowOf = (cells: ReadonlyArray<unknown>): FeatBitRow => {
  const [id, distinctId, envId, event, properties, ts, ingested] = cells
  if (
    typeof id !== "string" ||
    typeof distinctId !== "string" ||
    typeof envId !== "string" ||
    typeof event !== "string" ||
    typeof properties !== "string" ||
    typeof ts !== "string" ||
    typeof ingested !== "string"
  ) {
    throw badRow(`expected 7 text columns, found ${JSON.stringify(cells).slice(0, 200)}`)
  }
  const timestamp = fromClickHouseTime(ts)
  const ingestedAt = fromClickHouseTime(ingested)
  if (timestamp === undefined || ingestedAt === undefined) throw badRow(`timestamp ${ts}, _timestamp ${ingested}`)
  return { id, distinctId, envId, event, properties, timestamp, ingestedAt }
}

// ---------------------------------------------------------------------------------------------------------
// Reading

/**
 * Where a range read stands. Everything up to `cursor` has been read, and so has everything before
 * `windowStart` (which is never below the cursor's time). The current window is `[windowStart, windowEnd)`;
 * it began at `windowOrigin` and `windowRows` of its rows have been read.
 */
interface RangeState {
  readonly cursor: Position | undefined
  readonly windowOrigin: bigint
  readonly windowStart: bigint
  readonly windowEnd: bigint
  readonly windowRows: number
  readonly done: boolean
}

/** Pages a time window should hold: more windows mean more queries, wider ones mean more rows scanned per query. */
const PAGES_PER_WINDOW = 8
/** How far one window's width may move from the last one's, either way. */
const MAX_WIDTH_CHANGE = 8n

const min = (a: bigint, b: bigint) => (a < b ? a : b)
const max = (a: bigint, b: bigint) => (a > b ? a : b)

/** Refuses a cursor that another cursor column produced: positions on two columns cannot be compared. */
export const checkCursorColumn = (from: Cursor.Cursor | undefined, column: CursorColumn): SourceError | undefined => {
  if (from === undefined) return undefined
  const committed = from.column ?? "timestamp"
  if (committed === column) return undefined
  return SourceError.fatal(
    PLUGIN,
    `the committed cursor is a position on the column ${committed}, but cursorColumn is ${column}, and positions on different columns cannot be compared; set cursorColumn back to ${committed}, or reset the pipeline's checkpoint (featbit-export checkpoints --reset) and set startAt`
  )
}

/** `since` as the `_timestamp` bound a narrowed read uses: the mark's second, less the margin. */
const sinceParam = (since: string): string | undefined => {
  const mark = Timestamp.parse(since)
  if (mark === undefined) return undefined
  const seconds = Math.floor(Date.parse(mark.slice(0, 23) + "Z") / 1000) - INGEST_MARGIN_SECONDS
  return new Date(seconds * 1000).toISOString().slice(0, 19).replace("T", " ")
}

/** The range's bounds, conditions and parameters, shared by its bounds, page and count queries. */
const rangeOf = (
  settings: ReadSettings,
  request: {
    readonly after?: Position | undefined
    readonly from?: Timestamp.Timestamp | undefined
    readonly before?: Timestamp.Timestamp | undefined
    readonly through?: Position | undefined
    readonly since?: string | undefined
    readonly buckets?: RangeRequest["buckets"]
  }
) => {
  const since = request.since === undefined ? undefined : sinceParam(request.since)
  const lo = request.after?.timestamp ?? request.from ?? Timestamp.fromMicros(0n)
  const throughEnd = request.through === undefined ? undefined : Timestamp.toMicros(request.through.timestamp) + 1n
  const before = request.before === undefined ? undefined : Timestamp.toMicros(request.before)
  // The far end of time ClickHouse's DateTime64 holds, when nothing bounds the range.
  const hi = min(before ?? 10_413_791_999_000_000n, throughEnd ?? 10_413_791_999_000_000n)
  const shape: RangeShape = { after: request.after !== undefined, through: request.through !== undefined, since: since !== undefined, buckets: request.buckets !== undefined }
  const params: QueryParams = {
    ...baseParams(settings),
    ...(request.after === undefined ? {} : { cts: toClickHouseTime(request.after.timestamp), cid: request.after.id }),
    ...(request.through === undefined ? {} : { tts: toClickHouseTime(request.through.timestamp), tid: request.through.id }),
    ...(since === undefined ? {} : { since }),
    ...(request.buckets === undefined ? {} : { bwidth: request.buckets.width, bidx: request.buckets.indexes })
  }
  return { lo: Timestamp.toMicros(lo), hi, shape, params }
}

/**
 * Reads a range of FeatBit's events table in keyset pages.
 *
 * A range read first asks for its oldest and newest rows and their count (one aggregate over the filtered
 * rows). Pages are then read with keyset conditions inside time windows `[lo, hi)` that adapt to the data's
 * density, so that a page query scans about a page of rows (ClickHouse prunes partitions and granules on the
 * time bounds) instead of everything after the cursor: that keeps a long backfill linear.
 */
export const readRange = (session: Session, settings: ReadSettings, request: RangeRequest, pageSize: number): Stream.Stream<RangePage, SourceError> =>
  Stream.suspend(() => {
    const mismatch = checkCursorColumn(request.after, settings.cursorColumn)
    if (mismatch !== undefined) return Stream.fail(mismatch)
    const table = `${settings.database}.${settings.table}`
    // _timestamp holds whole seconds: a window narrower than one second is empty or holds one second.
    const minSpan = settings.cursorColumn === "_timestamp" ? 1_000_000n : 1_000n
    const range = rangeOf(settings, request)
    const end = range.hi
    if (range.lo >= end) return Stream.empty

    /** A row's position on the cursor column (rowOf always sets ingestedAt). */
    const positionOf = (row: FeatBitRow): Timestamp.Timestamp => (settings.cursorColumn === "timestamp" ? row.timestamp : row.ingestedAt!)

    return Stream.unwrap(
      Effect.gen(function* () {
        const [summary] = yield* session.rows(
          boundsSql(settings, range.shape),
          { ...range.params, lo: toClickHouseTime(Timestamp.fromMicros(range.lo)), hi: toClickHouseTime(Timestamp.fromMicros(end)) },
          `sizing a read of ${table}`
        )
        const count = Number(summary?.[0] ?? 0)
        if (summary === undefined || !(count > 0)) return Stream.empty
        const first = fromClickHouseTime(String(summary[1]))
        const newest = fromClickHouseTime(String(summary[2]))
        if (first === undefined || newest === undefined) {
          return yield* Effect.fail(badRow(`min ${String(summary[1])}, max ${String(summary[2])}`))
        }
        // Windows should hold `target` rows; the first is sized from the range's average density.
        const target = BigInt(pageSize * PAGES_PER_WINDOW)
        const firstMicros = Timestamp.toMicros(first)
        const rangeMicros = max(1n, Timestamp.toMicros(newest) - firstMicros)
        const firstSpan = max(minSpan, (rangeMicros * target) / BigInt(count))
        const initial: RangeState = {
          cursor: request.after === undefined ? undefined : { timestamp: request.after.timestamp, id: request.after.id },
          windowOrigin: firstMicros,
          windowStart: firstMicros,
          windowEnd: min(firstMicros + firstSpan, end),
          windowRows: 0,
          done: false
        }

        /** Fills one page from as many windows as it takes, up to the end of the range; `undefined` when none is left. */
        const fill = (state: RangeState): Effect.Effect<readonly [RangePage | undefined, RangeState], SourceError> =>
          Effect.gen(function* () {
            const events: Array<ExportEvent> = []
            const rejected: Array<Rejection> = []
            const times: Array<Timestamp.Timestamp> = []
            let { cursor, windowOrigin, windowStart, windowEnd, windowRows } = state
            let read = 0
            while (read < pageSize && windowStart < end) {
              const limit = pageSize - read
              const shape = { ...range.shape, after: cursor !== undefined }
              const cells = yield* session.rows(
                pageSql(settings, shape),
                {
                  ...range.params,
                  lo: toClickHouseTime(Timestamp.fromMicros(windowStart)),
                  hi: toClickHouseTime(Timestamp.fromMicros(windowEnd)),
                  ...(cursor === undefined ? {} : { cts: toClickHouseTime(cursor.timestamp), cid: cursor.id }),
                  limit
                },
                `reading ${table}`
              )
              let last: FeatBitRow | undefined
              let unreadable: SourceError | undefined
              try {
                for (const row of cells) {
                  last = rowOf(row)
                  times.push(last.timestamp)
                  const decoded = decodeFeatBitRow(last)
                  if (decoded._tag === "Right") events.push(decoded.right)
                  else rejected.push(decoded.left)
                }
              } catch (error) {
                unreadable = error instanceof SourceError ? error : badRow(String(error))
              }
              if (unreadable !== undefined) return yield* Effect.fail(unreadable)
              read += cells.length
              windowRows += cells.length
              if (last !== undefined) cursor = { timestamp: positionOf(last), id: last.id }
              if (cells.length < limit) {
                // The window is exhausted. The next one starts where it ended, as wide as the density just
                // seen says `target` rows take, within a factor of MAX_WIDTH_CHANGE of this one.
                const width = windowEnd - windowOrigin
                const wanted = windowRows === 0 ? width * MAX_WIDTH_CHANGE : (width * target) / BigInt(windowRows)
                const next = max(minSpan, min(width * MAX_WIDTH_CHANGE, max(width / MAX_WIDTH_CHANGE, wanted)))
                windowOrigin = windowStart = windowEnd
                windowEnd = min(windowStart + next, end)
                windowRows = 0
              } else {
                // The page filled inside the window: go on from its last row. If the rest of the window looks
                // much denser than planned, narrow it, so one query never scans far more than `target` rows.
                const lastMicros = Timestamp.toMicros(cursor!.timestamp)
                const covered = lastMicros - windowStart
                if (covered > 0n) {
                  const rest = windowEnd - lastMicros
                  if ((rest * BigInt(limit)) / covered > 2n * target) windowEnd = min(windowEnd, lastMicros + max(minSpan, (covered * target) / BigInt(limit)))
                }
                windowStart = lastMicros
              }
            }
            const page: RangePage | undefined =
              read === 0 || cursor === undefined
                ? undefined
                : {
                    events,
                    rejected,
                    times,
                    cursor: settings.cursorColumn === "timestamp" ? cursor : { ...cursor, column: settings.cursorColumn }
                  }
            return [page, { cursor, windowOrigin, windowStart, windowEnd, windowRows, done: windowStart >= end }] as const
          })

        return Stream.unfoldEffect(initial, (state) =>
          state.done
            ? Effect.succeed(Option.none())
            : fill(state).pipe(
                Effect.map(([page, next]) => (page === undefined ? Option.none() : Option.some([page, next] as const)))
              )
        )
      })
    )
  })

/**
 * FeatBit Pro's ClickHouse events table as core's pass needs it: the server's clock (`now64()`), which is
 * also the mark; range reads; per-bucket counts; and reads narrowed on the ingest time `_timestamp` to the
 * rows that came in since a mark (less INGEST_MARGIN_SECONDS), so late rows are read again without the
 * rows around them.
 */
export const makeReader = (session: Session, settings: ReadSettings): StoreReader => ({
  storeTime: session.rows(STORE_TIME_SQL, undefined, "reading the server's clock").pipe(
    Effect.flatMap(([row]) => {
      const now = row === undefined ? undefined : fromClickHouseTime(String(row[0]))
      return now === undefined ? Effect.fail(badRow(`now64() read as ${String(row?.[0])}`)) : Effect.succeed({ now, mark: now })
    })
  ),
  read: (request, pageSize) => readRange(session, settings, request, pageSize),
  count: (request) => {
    const range = rangeOf(settings, request)
    return session
      .rows(
        countSql(settings, range.shape),
        { ...range.params, lo: toClickHouseTime(Timestamp.fromMicros(range.lo)), hi: toClickHouseTime(Timestamp.fromMicros(range.hi)), width: request.width },
        `counting the rows of ${settings.database}.${settings.table} behind the cursor`
      )
      .pipe(Effect.map((rows) => rows.map((row) => ({ bucket: Number(row[0]), rows: Number(row[1]) }))))
  },
  narrows: "span"
})
