import {
  type Cursor,
  type ExportEvent,
  type FeatBitRow,
  type ReadOptions,
  type Rejection,
  SourceError,
  type SourcePage,
  Timestamp,
  decodeFeatBitRow
} from "@featbit-export/core"
import * as Duration from "effect/Duration"
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
  /** Where a read without a committed cursor starts (inclusive), on the cursor column. */
  readonly startAt: Timestamp.Timestamp | undefined
  /** Rows at or after it are never read (exclusive), on the cursor column. */
  readonly endAt: Timestamp.Timestamp | undefined
  /** The read horizon trails the newest row by this much. */
  readonly lag: Duration.Duration
  /** Rows per page; the pipeline's batch size when undefined. */
  readonly batchSize: number | undefined
}

// ---------------------------------------------------------------------------------------------------------
// SQL. Every value is a bound parameter; database, table and cursor column are `Identifier` parameters. The
// text varies only in which optional filters exist, never with what they contain.

const FROM = "FROM {db:Identifier}.{table:Identifier}"
const COL = "{col:Identifier}"

const filterSql = (settings: ReadSettings): string =>
  (settings.envIds === undefined ? "" : " AND env_id IN {envs:Array(String)}") +
  (settings.events === undefined ? "" : " AND event IN {kinds:Array(String)}")

/** The columns read, in the order `rowOf` expects them. */
export const SELECT_LIST =
  "toString(uuid) AS id, distinct_id, env_id, event, properties, toString(timestamp) AS ts, toString(_timestamp, 'UTC') AS ingested"

/** The newest and oldest rows at or after a position (count first: min and max of nothing are 1970). */
export const boundsSql = (settings: ReadSettings): string =>
  `SELECT count() AS n, toString(min(${COL}), 'UTC') AS first, toString(max(${COL}), 'UTC') AS last ${FROM} ` +
  `WHERE ${COL} >= {from:DateTime64(6, 'UTC')}${filterSql(settings)}`

/**
 * One page: rows of a time window `[lo, hi)` after the keyset position `(cts, cid)`, in the order of core's
 * `Cursor.compare` (the cursor column, then the uuid's text: ClickHouse's UUID type sorts differently).
 */
export const pageSql = (settings: ReadSettings, afterCursor: boolean): string =>
  `SELECT ${SELECT_LIST} ${FROM} ` +
  `WHERE ${COL} >= {lo:DateTime64(6, 'UTC')} AND ${COL} < {hi:DateTime64(6, 'UTC')}` +
  (afterCursor ? ` AND (${COL} > {cts:DateTime64(6, 'UTC')} OR toString(uuid) > {cid:String})` : "") +
  filterSql(settings) +
  ` ORDER BY ${COL}, toString(uuid) LIMIT {limit:UInt32}`

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
 * Where a pass stands. Everything up to `cursor` has been read, and so has everything before `windowStart`
 * (which is never below the cursor's time). The current window is `[windowStart, windowEnd)`; it began at
 * `windowOrigin` and `windowRows` of its rows have been read.
 */
interface PassState {
  readonly cursor: { readonly timestamp: Timestamp.Timestamp; readonly id: string } | undefined
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

const MICROS_PER_MS = 1000n
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

/**
 * Reads FeatBit's events table after a cursor, in pages, up to the read horizon of this pass.
 *
 * A pass first asks for the oldest and newest rows at or after its start (one aggregate over the filtered
 * rows). The horizon is the newest row's cursor column minus `lag`; `endAt` cuts it further. Pages are then
 * read with keyset conditions inside time windows `[lo, hi)` that adapt to the data's density, so that a
 * page query scans about a page of rows (ClickHouse prunes partitions and granules on the time bounds)
 * instead of everything after the cursor: that keeps a long backfill linear.
 */
export const readPages = (session: Session, settings: ReadSettings, from: Cursor.Cursor | undefined, options: ReadOptions): Stream.Stream<SourcePage, SourceError> =>
  Stream.suspend(() => {
    const mismatch = checkCursorColumn(from, settings.cursorColumn)
    if (mismatch !== undefined) return Stream.fail(mismatch)
    const pageSize = settings.batchSize ?? options.pageSize
    const params = baseParams(settings)
    const table = `${settings.database}.${settings.table}`
    const lagMicros = BigInt(Math.round(Duration.toMillis(settings.lag))) * MICROS_PER_MS
    // _timestamp holds whole seconds: a window narrower than one second is empty or holds one second.
    const minSpan = settings.cursorColumn === "_timestamp" ? 1_000_000n : 1_000n
    const start = from?.timestamp ?? settings.startAt
    const endAt = settings.endAt === undefined ? undefined : Timestamp.toMicros(settings.endAt)

    const bounds = session.rows(
      boundsSql(settings),
      { ...params, from: toClickHouseTime(start ?? Timestamp.fromMicros(0n)) },
      `finding the newest row of ${table}`
    )

    /** A row's position on the cursor column (rowOf always sets ingestedAt). */
    const positionOf = (row: FeatBitRow): Timestamp.Timestamp => (settings.cursorColumn === "timestamp" ? row.timestamp : row.ingestedAt!)

    return Stream.unwrap(
      Effect.gen(function* () {
        const [summary] = yield* bounds
        const count = Number(summary?.[0] ?? 0)
        if (summary === undefined || !(count > 0)) return Stream.empty
        const first = fromClickHouseTime(String(summary[1]))
        const newest = fromClickHouseTime(String(summary[2]))
        if (first === undefined || newest === undefined) {
          return yield* Effect.fail(badRow(`min ${String(summary[1])}, max ${String(summary[2])}`))
        }
        // Rows at or before the horizon are read; `end` is exclusive, so one microsecond past it.
        const horizon = Timestamp.toMicros(newest) - lagMicros
        const end = endAt === undefined ? horizon + 1n : min(horizon + 1n, endAt)
        const firstMicros = Timestamp.toMicros(first)
        if (firstMicros >= end) return Stream.empty
        // Windows should hold `target` rows; the first is sized from the pass's average density.
        const target = BigInt(pageSize * PAGES_PER_WINDOW)
        const rangeMicros = max(1n, Timestamp.toMicros(newest) - firstMicros)
        const firstSpan = max(minSpan, (rangeMicros * target) / BigInt(count))
        const initial: PassState = {
          cursor: from === undefined ? undefined : { timestamp: from.timestamp, id: from.id },
          windowOrigin: firstMicros,
          windowStart: firstMicros,
          windowEnd: min(firstMicros + firstSpan, end),
          windowRows: 0,
          done: false
        }

        /** Fills one page from as many windows as it takes, up to the end of the pass; `undefined` when none is left. */
        const fill = (state: PassState): Effect.Effect<readonly [SourcePage | undefined, PassState], SourceError> =>
          Effect.gen(function* () {
            const events: Array<ExportEvent> = []
            const rejected: Array<Rejection> = []
            let { cursor, windowOrigin, windowStart, windowEnd, windowRows } = state
            let read = 0
            while (read < pageSize && windowStart < end) {
              const limit = pageSize - read
              const cells = yield* session.rows(
                pageSql(settings, cursor !== undefined),
                {
                  ...params,
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
            const page: SourcePage | undefined =
              read === 0 || cursor === undefined
                ? undefined
                : {
                    events,
                    rejected,
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
