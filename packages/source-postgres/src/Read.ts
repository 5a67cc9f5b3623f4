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

/** What to read, decoded from the pipeline file. */
export interface ReadSettings {
  /** `"schema"."table"`, already quoted as identifiers. */
  readonly table: string
  /** Only these environments; all when undefined. */
  readonly envIds: ReadonlyArray<string> | undefined
  /** Only these event kinds; all when undefined. */
  readonly events: ReadonlyArray<string> | undefined
  /** Where a read without a committed cursor starts (inclusive). */
  readonly startAt: Timestamp.Timestamp | undefined
  /** Rows at or after it are never read (exclusive). */
  readonly endAt: Timestamp.Timestamp | undefined
  /** The read horizon trails the newest matching row by this much. */
  readonly lag: Duration.Duration
  /** Rows per page; the pipeline's batch size when undefined. */
  readonly batchSize: number | undefined
}

/** Runs one parameterised query and returns its rows (the connection's errors already classified). */
export type Query = <R extends object>(sql: string, params: ReadonlyArray<unknown>, doing: string) => Effect.Effect<ReadonlyArray<R>, SourceError>

// ---------------------------------------------------------------------------------------------------------
// SQL. Every value is a bound parameter; schema and table are quoted identifiers (pg's escapeIdentifier).
// The text varies only in which optional filters exist, never with what they contain.
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

/** `2023-12-12T07:42:13.320000Z` as a `timestamp without time zone` parameter reads it. */
export const toPgTime = (timestamp: Timestamp.Timestamp): string => timestamp.slice(0, 10) + " " + timestamp.slice(11, 26)

interface Built {
  readonly sql: string
  readonly params: ReadonlyArray<unknown>
}

/** The filters (envIds, events) as SQL after `WHERE ...`, numbering parameters from `params.length + 1`. */
const filters = (settings: ReadSettings, params: Array<unknown>): string => {
  let sql = ""
  if (settings.envIds !== undefined) {
    params.push(settings.envIds)
    sql += ` AND env_id = ANY($${params.length}::varchar[])`
  }
  if (settings.events !== undefined) {
    params.push(settings.events)
    sql += ` AND event = ANY($${params.length}::varchar[])`
  }
  return sql
}

/** The newest row matching the filters (at or after `from` when given): the horizon of a pass trails it. */
export const newestSql = (settings: ReadSettings, from: Timestamp.Timestamp | undefined): Built => {
  const params: Array<unknown> = []
  let where = "TRUE"
  if (from !== undefined) {
    params.push(toPgTime(from))
    where = `"timestamp" >= $1::timestamp`
  }
  where += filters(settings, params)
  return {
    sql: `SELECT to_char(max("timestamp"), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS newest FROM ${settings.table} WHERE ${where}`,
    params
  }
}

/**
 * One page: rows after the keyset position `after` (or from `startAt`), up to `horizon` (inclusive) and
 * before `endAt`, in Cursor.compare order. The keyset condition is written as a timestamp range plus a
 * tie-break so that an index on `timestamp` (or `(env_id, timestamp, ...)`) bounds the scan.
 */
export const pageSql = (
  settings: ReadSettings,
  after: { readonly timestamp: Timestamp.Timestamp; readonly id: string } | undefined,
  horizon: Timestamp.Timestamp,
  limit: number
): Built => {
  const params: Array<unknown> = [toPgTime(horizon)]
  let where = `"timestamp" <= $1::timestamp`
  if (settings.endAt !== undefined) {
    params.push(toPgTime(settings.endAt))
    where += ` AND "timestamp" < $${params.length}::timestamp`
  }
  if (after !== undefined) {
    params.push(toPgTime(after.timestamp), after.id)
    const ts = `$${params.length - 1}::timestamp`
    const id = `$${params.length}::text`
    where += ` AND "timestamp" >= ${ts} AND ("timestamp" > ${ts} OR id::text COLLATE "C" > ${id} COLLATE "C")`
  } else if (settings.startAt !== undefined) {
    params.push(toPgTime(settings.startAt))
    where += ` AND "timestamp" >= $${params.length}::timestamp`
  }
  where += filters(settings, params)
  params.push(limit)
  return {
    sql: `SELECT ${SELECT_LIST} FROM ${settings.table} WHERE ${where} ORDER BY "timestamp", id::text COLLATE "C" LIMIT $${params.length}`,
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
export const decodePage = (rows: ReadonlyArray<PgRow>): { events: Array<ExportEvent>; rejected: Array<Rejection>; last: FeatBitRow | undefined } => {
  const events: Array<ExportEvent> = []
  const rejected: Array<Rejection> = []
  let last: FeatBitRow | undefined
  for (const raw of rows) {
    const row = rowOf(raw)
    last = row
    // A jsonb string holding JSON text would be parsed by decodeFeatBitRow as JSON: it is not an object in
    // the store, so it is rejected as what it is.
    const decoded = typeof row.properties === "string" ? rejectNonObject(row) : decodeFeatBitRow(row)
    if (decoded._tag === "Right") events.push(decoded.right)
    else rejected.push(decoded.left)
  }
  return { events, rejected, last }
}

const rejectNonObject = (row: FeatBitRow): { readonly _tag: "Left"; readonly left: Rejection } => ({
  _tag: "Left",
  left: { id: row.id, reason: "properties should be a JSON object, found a JSON string", raw: row }
})

// ---------------------------------------------------------------------------------------------------------
// Reading

/**
 * Reads FeatBit's events table after a cursor, in keyset pages, up to the horizon of this pass: the newest
 * row matching the filters (at the start of the pass) minus `lag`. `endAt` cuts it further.
 */
export const readPages = (query: Query, settings: ReadSettings, from: Cursor.Cursor | undefined, options: ReadOptions): Stream.Stream<SourcePage, SourceError> =>
  Stream.suspend(() => {
    if (from?.column !== undefined && from.column !== "timestamp") {
      return Stream.fail(
        SourceError.fatal(
          PLUGIN,
          `the committed cursor is a position on the column ${from.column}, but PostgreSQL's events table is read on timestamp; reset the pipeline's checkpoint (featbit-export checkpoints --reset) and set startAt`
        )
      )
    }
    const pageSize = settings.batchSize ?? options.pageSize
    const lagMicros = BigInt(Math.round(Duration.toMillis(settings.lag))) * 1000n
    const start = from?.timestamp ?? settings.startAt
    const newest = newestSql(settings, start)
    return Stream.unwrap(
      Effect.gen(function* () {
        const [bounds] = yield* query<{ newest: string | null }>(newest.sql, newest.params, `finding the newest row of ${settings.table}`)
        if (bounds === undefined || bounds.newest === null) return Stream.empty
        const newestTs = Timestamp.parse(bounds.newest)
        if (newestTs === undefined) return yield* Effect.fail(badRow(`max(timestamp) ${bounds.newest}`))
        const horizon = Timestamp.fromMicros(Timestamp.toMicros(newestTs) - lagMicros)
        type State = { readonly after: { readonly timestamp: Timestamp.Timestamp; readonly id: string } | undefined; readonly done: boolean }
        const initial: State = { after: from === undefined ? undefined : { timestamp: from.timestamp, id: from.id }, done: false }
        return Stream.unfoldEffect(initial, (state) => {
          if (state.done) return Effect.succeed(Option.none())
          const page = pageSql(settings, state.after, horizon, pageSize)
          return query<PgRow>(page.sql, page.params, `reading ${settings.table}`).pipe(
            Effect.flatMap((rows) =>
              Effect.try({
                try: () => decodePage(rows),
                catch: (error) => (error instanceof SourceError ? error : badRow(String(error)))
              }).pipe(
                Effect.map(({ events, rejected, last }) => {
                  if (last === undefined) return Option.none()
                  const cursor = { timestamp: last.timestamp, id: last.id }
                  const sourcePage: SourcePage = { events, rejected, cursor }
                  return Option.some([sourcePage, { after: cursor, done: rows.length < pageSize }] as const)
                })
              )
            )
          )
        })
      })
    )
  })
