import {
  type CountRequest,
  type ExportEvent,
  type FeatBitRow,
  type Position,
  type RangePage,
  type RangeRequest,
  type Rejection,
  SourceError,
  type StoreReader,
  type StoreTime,
  Timestamp,
  decodeFeatBitRow
} from "@featbit-export/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { PLUGIN } from "./Errors.js"

/** What to read, decoded from the pipeline file. */
export interface ReadSettings {
  /** `"schema"."table"`, already quoted as identifiers. */
  readonly table: string
  /** Only these environments; all when undefined. */
  readonly envIds: ReadonlyArray<string> | undefined
  /** Only these event kinds; all when undefined. */
  readonly events: ReadonlyArray<string> | undefined
}

/** Runs one parameterised query and returns its rows (the connection's errors already classified). */
export type Query = <R extends object>(sql: string, params: ReadonlyArray<unknown>, doing: string) => Effect.Effect<ReadonlyArray<R>, SourceError>

// ---------------------------------------------------------------------------------------------------------
// SQL. Every value is a bound parameter; schema and table are quoted identifiers (pg's escapeIdentifier).
// The text varies only in which optional conditions exist, never with what they contain.
//
// Order: `timestamp, id::text COLLATE "C"`, which is core's Cursor.compare (the timestamp's canonical text
// sorts as time does, then the id's text compared byte by byte as JavaScript compares strings). The id is
// compared as text, not as uuid: PostgreSQL's uuid order is bytewise and equals the order of lowercase hex
// text, but a cursor's id is text that came from a checkpoint file, and text compared in the "C" collation
// is what Cursor.compare does whatever the database's default collation (en_US would not be bytewise).

/** `timestamp` as core's canonical text: no JS Date, no time zone conversion, microseconds kept. */
export const TS_TEXT = `to_char("timestamp", 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`

/** The columns read, in the order `rowOf` expects them. */
export const SELECT_LIST = `id::text AS id, distinct_id, env_id, event, properties, ${TS_TEXT} AS ts`

/**
 * The store's clock and mark, in one statement. FeatBit writes UTC wall-clock values into a `timestamp
 * without time zone`, so the clock is `now()` taken to UTC: the session's TimeZone cannot shift it. The
 * mark is the snapshot's xmin: every transaction that commits later has an xid at least this large.
 */
export const STORE_TIME_SQL =
  `SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS now, ` +
  "txid_snapshot_xmin(txid_current_snapshot())::text AS mark"

/** `2023-12-12T07:42:13.320000Z` as a `timestamp without time zone` parameter reads it. */
export const toPgTime = (timestamp: Timestamp.Timestamp): string => timestamp.slice(0, 10) + " " + timestamp.slice(11, 26)

interface Built {
  readonly sql: string
  readonly params: ReadonlyArray<unknown>
}

/** Bounds of a range as SQL conditions, numbering parameters after those already in `params`. */
const conditions = (
  settings: ReadSettings,
  range: { readonly after?: Position | undefined; readonly from?: Timestamp.Timestamp | undefined; readonly before?: Timestamp.Timestamp | undefined; readonly through?: Position | undefined; readonly since?: string | undefined },
  params: Array<unknown>
): string => {
  const where: Array<string> = []
  const param = (value: unknown) => {
    params.push(value)
    return `$${params.length}`
  }
  if (range.before !== undefined) where.push(`"timestamp" < ${param(toPgTime(range.before))}::timestamp`)
  if (range.after !== undefined) {
    // A range on the timestamp plus a tie-break, so an index on timestamp bounds the scan.
    const ts = `${param(toPgTime(range.after.timestamp))}::timestamp`
    const id = `${param(range.after.id)}::text`
    where.push(`"timestamp" >= ${ts} AND ("timestamp" > ${ts} OR id::text COLLATE "C" > ${id} COLLATE "C")`)
  } else if (range.from !== undefined) {
    where.push(`"timestamp" >= ${param(toPgTime(range.from))}::timestamp`)
  }
  if (range.through !== undefined) {
    const ts = `${param(toPgTime(range.through.timestamp))}::timestamp`
    const id = `${param(range.through.id)}::text`
    where.push(`"timestamp" <= ${ts} AND ("timestamp" < ${ts} OR id::text COLLATE "C" <= ${id} COLLATE "C")`)
  }
  if (range.since !== undefined) {
    // Rows whose inserting transaction is not older than the mark: `age` compares xids modulo wraparound.
    where.push(`age(xmin) <= age((${param(range.since)}::bigint % 4294967296)::text::xid)`)
  }
  if (settings.envIds !== undefined) where.push(`env_id = ANY(${param(settings.envIds)}::varchar[])`)
  if (settings.events !== undefined) where.push(`event = ANY(${param(settings.events)}::varchar[])`)
  return where.length === 0 ? "TRUE" : where.join(" AND ")
}

/** One page of a range, in Cursor.compare order. */
export const pageSql = (settings: ReadSettings, request: RangeRequest, limit: number): Built => {
  const params: Array<unknown> = []
  const where = conditions(settings, request, params)
  params.push(limit)
  return {
    sql: `SELECT ${SELECT_LIST} FROM ${settings.table} WHERE ${where} ORDER BY "timestamp", id::text COLLATE "C" LIMIT $${params.length}`,
    params
  }
}

/**
 * Rows per time bucket (`floor(ms / width)`): one small count per bucket, each an index range scan on the
 * timestamp that reads no row (an index-only scan with the advised index, as long as `events` is not
 * filtered). Measured on a million rows, that is faster than one GROUP BY: computing a bucket per row
 * (`extract(epoch ...)` is numeric) cost five times as much as counting the row.
 */
export const countSql = (settings: ReadSettings, request: CountRequest, buckets: { readonly first: Timestamp.Timestamp; readonly last: Timestamp.Timestamp }): Built => {
  const params: Array<unknown> = [toPgTime(buckets.first), toPgTime(buckets.last), request.width]
  const step = `$3::bigint * interval '1 millisecond'`
  const where = conditions(settings, request, params)
  return {
    sql:
      `SELECT to_char(s, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS start, ` +
      `(SELECT count(*)::int FROM ${settings.table} WHERE "timestamp" >= s AND "timestamp" < s + ${step} AND ${where}) AS rows ` +
      `FROM generate_series($1::timestamp, $2::timestamp, ${step}) AS s`,
    params
  }
}

// ---------------------------------------------------------------------------------------------------------
// Rows

/** A page query's row. */
export interface PgRow {
  readonly id: string | null
  readonly distinct_id: string | null
  readonly env_id: string | null
  readonly event: string | null
  /** pg parses jsonb: an object, or whatever JSON value the column holds. */
  readonly properties: unknown
  readonly ts: string | null
}

const badRow = (detail: string) =>
  SourceError.fatal(PLUGIN, `PostgreSQL returned a row this source cannot read (${detail}); is the table FeatBit's events table?`)

const canonical = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/

/**
 * One row as core's FeatBitRow. A row without an id or timestamp cannot be positioned (both are NOT NULL in
 * FeatBit's DDL), so it fails the read; every other oddity is left to decodeFeatBitRow, which rejects it.
 */
export const rowOf = (row: PgRow): FeatBitRow => {
  if (typeof row.id !== "string" || typeof row.ts !== "string") throw badRow(`id ${String(row.id)}, timestamp ${String(row.ts)}`)
  const timestamp = canonical.test(row.ts) ? (row.ts as Timestamp.Timestamp) : Timestamp.parse(row.ts)
  if (timestamp === undefined) throw badRow(`timestamp ${row.ts}`)
  return {
    id: row.id,
    distinctId: row.distinct_id ?? "",
    envId: row.env_id ?? "",
    event: row.event ?? "",
    // A jsonb object arrives as an object; a jsonb string, number, array or null is not one, and decoding says so.
    properties: row.properties as FeatBitRow["properties"],
    timestamp
  }
}

/** Decodes a page's rows into events and rejections; the cursor is the last row's, decoded or not. */
export const decodePage = (
  rows: ReadonlyArray<PgRow>
): { events: Array<ExportEvent>; rejected: Array<Rejection>; times: Array<Timestamp.Timestamp>; last: FeatBitRow | undefined } => {
  const events: Array<ExportEvent> = []
  const rejected: Array<Rejection> = []
  const times: Array<Timestamp.Timestamp> = []
  let last: FeatBitRow | undefined
  for (const raw of rows) {
    const row = rowOf(raw)
    last = row
    times.push(row.timestamp)
    // A jsonb string holding JSON text would be parsed by decodeFeatBitRow as JSON: it is not an object in
    // the store, so it is rejected as what it is.
    const decoded = typeof row.properties === "string" ? rejectNonObject(row) : decodeFeatBitRow(row)
    if (decoded._tag === "Right") events.push(decoded.right)
    else rejected.push(decoded.left)
  }
  return { events, rejected, times, last }
}

const rejectNonObject = (row: FeatBitRow): { readonly _tag: "Left"; readonly left: Rejection } => ({
  _tag: "Left",
  left: { id: row.id, reason: "properties should be a JSON object, found a JSON string", raw: row }
})

// ---------------------------------------------------------------------------------------------------------
// Reading

/** Refuses a cursor another source's cursor column produced: this table is read on timestamp only. */
const checkColumn = (request: RangeRequest): SourceError | undefined =>
  request.after?.column !== undefined && request.after.column !== "timestamp"
    ? SourceError.fatal(
        PLUGIN,
        `the committed cursor is a position on the column ${request.after.column}, but PostgreSQL's events table is read on timestamp; reset the pipeline's checkpoint (featbit-export checkpoints --reset) and set startAt`
      )
    : undefined

/** Keyset pages of one range: each page's last row bounds the next page's query; a short page ends it. */
const readRange = (query: Query, settings: ReadSettings, request: RangeRequest, pageSize: number): Stream.Stream<RangePage, SourceError> =>
  Stream.suspend(() => {
    const mismatch = checkColumn(request)
    if (mismatch !== undefined) return Stream.fail(mismatch)
    type State = { readonly after: Position | undefined; readonly done: boolean }
    return Stream.unfoldEffect<State, RangePage, SourceError, never>({ after: request.after, done: false }, (state) => {
      if (state.done) return Effect.succeed(Option.none())
      const page = pageSql(settings, { ...request, after: state.after }, pageSize)
      return query<PgRow>(page.sql, page.params, `reading ${settings.table}`).pipe(
        Effect.flatMap((rows) =>
          Effect.try({
            try: () => decodePage(rows),
            catch: (error) => (error instanceof SourceError ? error : badRow(String(error)))
          })
        ),
        Effect.map(({ events, rejected, times, last }) => {
          if (last === undefined) return Option.none()
          const cursor = { timestamp: last.timestamp, id: last.id }
          return Option.some([{ events, rejected, cursor, times }, { after: cursor, done: times.length < pageSize }] as const)
        })
      )
    })
  })

/** The first and last bucket starts a count covers; undefined when it covers nothing. */
const bucketBounds = (request: CountRequest): { readonly first: Timestamp.Timestamp; readonly last: Timestamp.Timestamp } | undefined => {
  const end = request.through?.timestamp ?? (request.before === undefined ? undefined : Timestamp.fromMicros(Timestamp.toMicros(request.before) - 1n))
  if (request.from === undefined || end === undefined || end < request.from) return undefined
  const startOf = (timestamp: Timestamp.Timestamp) => Timestamp.fromMillis(Math.floor(Date.parse(timestamp.slice(0, 23) + "Z") / request.width) * request.width)
  return { first: startOf(request.from), last: startOf(end) }
}

/**
 * FeatBit's PostgreSQL events table as core's pass needs it: the clock (`now()` in UTC) with the snapshot's
 * xmin as the mark, keyset pages of a range, per-bucket counts, and reads narrowed to rows whose inserting
 * transaction is not older than a mark (`xmin`), so late rows are read again without the rows around them.
 */
export const makeReader = (query: Query, settings: ReadSettings): StoreReader => ({
  storeTime: query<{ now: string; mark: string | null }>(STORE_TIME_SQL, [], "reading the server's clock").pipe(
    Effect.flatMap(([row]): Effect.Effect<StoreTime, SourceError> => {
      const now = row === undefined ? undefined : Timestamp.parse(row.now)
      return now === undefined
        ? Effect.fail(badRow(`now() read as ${String(row?.now)}`))
        : Effect.succeed({ now, ...(row?.mark == null ? {} : { mark: row.mark }) })
    })
  ),
  read: (request, pageSize) => readRange(query, settings, request, pageSize),
  count: (request) => {
    const buckets = bucketBounds(request)
    if (buckets === undefined) return Effect.succeed([])
    const built = countSql(settings, request, buckets)
    return query<{ start: string; rows: number }>(built.sql, built.params, `counting the rows of ${settings.table} behind the cursor`).pipe(
      Effect.map((rows) =>
        rows.filter((row) => row.rows > 0).map((row) => ({ bucket: Math.floor(Date.parse(row.start.slice(0, 23) + "Z") / request.width), rows: Number(row.rows) }))
      )
    )
  },
  narrows: "runs"
})
