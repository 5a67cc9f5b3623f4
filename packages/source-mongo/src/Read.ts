import {
  type CountRequest,
  type ExportEvent,
  type Position,
  type RangePage,
  type RangeRequest,
  type Rejection,
  SourceError,
  type StoreReader,
  Timestamp
} from "@featbit-export/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { Document } from "mongodb"
import type { Session, Store } from "./Client.js"
import { type EventDocument, decodeEventDocument, idText, timestampOfDate } from "./Documents.js"
import { PLUGIN } from "./Errors.js"

/** What to read, decoded from the pipeline file. */
export interface ReadSettings {
  /** Only these environments; all when undefined. */
  readonly envIds: ReadonlyArray<string> | undefined
  /** Only these event kinds; all when undefined. */
  readonly events: ReadonlyArray<string> | undefined
}

/** The keyset order, which equals core's `Cursor.compare` for Date timestamps and string `_id`s. */
export const KEYSET_SORT = { timestamp: 1, _id: 1 } as const

/** The earliest BSON Date: `{$gte: MIN_DATE}` matches every Date, and only Dates (MongoDB compares within a type). */
export const MIN_DATE = new Date(-8_640_000_000_000_000)

const floorDiv = (a: bigint, b: bigint): bigint => {
  const q = a / b
  return a % b !== 0n && a < 0n ? q - 1n : q
}
const ceilDiv = (a: bigint, b: bigint): bigint => -floorDiv(-a, b)
const floorDate = (timestamp: Timestamp.Timestamp) => new Date(Number(floorDiv(Timestamp.toMicros(timestamp), 1000n)))
const ceilDate = (timestamp: Timestamp.Timestamp) => new Date(Number(ceilDiv(Timestamp.toMicros(timestamp), 1000n)))
const onWholeMilli = (timestamp: Timestamp.Timestamp) => Timestamp.toMicros(timestamp) % 1000n === 0n

/** The filter on environments and kinds that every query carries. */
export const baseFilter = (settings: ReadSettings): Document => ({
  ...(settings.envIds === undefined ? {} : { env_id: { $in: [...settings.envIds] } }),
  ...(settings.events === undefined ? {} : { event: { $in: [...settings.events] } })
})

/**
 * The filter of a range (see core's RangeRequest). BSON Dates hold milliseconds: a bound with microseconds
 * lies between two Dates and is rounded to the side that keeps its meaning. A keyset bound on a whole
 * millisecond (every cursor this source commits) becomes `timestamp > T or (timestamp = T and _id > ID)`
 * (and its inclusive mirror for `through`), with the plain range kept beside it so the timestamp index
 * bounds the scan.
 */
export const rangeFilter = (
  settings: ReadSettings,
  range: { readonly after?: Position | undefined; readonly from?: Timestamp.Timestamp | undefined; readonly before?: Timestamp.Timestamp | undefined; readonly through?: Position | undefined }
): Document => {
  const timestamp: Record<string, Date> = { $gte: MIN_DATE }
  const keysets: Array<Document> = []
  if (range.before !== undefined) timestamp["$lt"] = ceilDate(range.before)
  if (range.after !== undefined) {
    const at = floorDate(range.after.timestamp)
    if (onWholeMilli(range.after.timestamp)) {
      timestamp["$gte"] = at
      keysets.push({ $or: [{ timestamp: { $gt: at } }, { timestamp: at, _id: { $gt: range.after.id } }] })
    } else {
      delete timestamp["$gte"]
      timestamp["$gt"] = at
    }
  } else if (range.from !== undefined) {
    timestamp["$gte"] = ceilDate(range.from)
  }
  if (range.through !== undefined) {
    const at = floorDate(range.through.timestamp)
    timestamp["$lte"] = at
    if (onWholeMilli(range.through.timestamp)) keysets.push({ $or: [{ timestamp: { $lt: at } }, { timestamp: at, _id: { $lte: range.through.id } }] })
  }
  const keyset = keysets.length === 0 ? {} : keysets.length === 1 ? keysets[0]! : { $and: keysets }
  return { ...baseFilter(settings), timestamp, ...keyset }
}

/**
 * The cursor id of a document. A non-string `_id` (never FeatBit's) is placed where MongoDB sorts it among
 * the strings of its timestamp: a number (or null) before every string (""), anything else (ObjectId, ...)
 * after every uuid (`~` sorts after every uuid character). Further non-string `_id`s of the same millisecond
 * are then skipped rather than dead-lettered (see the README).
 */
const cursorId = (id: unknown): string =>
  typeof id === "string" ? id : id === null || id === undefined || typeof id === "number" || typeof id === "bigint" ? "" : `~${idText(id) ?? ""}`

/** A page's documents, or why they could not be read (a settled promise never rejects: see `fetch`). */
type Fetched = { readonly docs: ReadonlyArray<Document> } | { readonly error: unknown }

interface RangeState {
  readonly after: Position | undefined
  /** The next page's query, already sent while the previous page was being decoded. */
  readonly next: Promise<Fetched> | undefined
  readonly done: boolean
}

/**
 * The documents of a range, a page per `find` sorted on `{timestamp: 1, _id: 1}` and limited to the page
 * size; a short page ends it. A full page's last document fixes the next page's query, so that query is sent
 * before the page is decoded: the server's work overlaps the decoding.
 */
const readRange = (session: Session, settings: ReadSettings, request: RangeRequest, pageSize: number): Stream.Stream<RangePage, SourceError> =>
  Stream.suspend(() => {
    if (request.after?.column !== undefined && request.after.column !== "timestamp") {
      return Stream.fail(
        SourceError.fatal(
          PLUGIN,
          `the committed cursor is a position on the column ${request.after.column}, which MongoDB's Events documents do not have; reset the pipeline's checkpoint (featbit-export checkpoints --reset) and set startAt`
        )
      )
    }
    const { context } = session
    const doing = `reading ${context.database}.${context.collection}`
    // One client for the whole range: the prefetched page must come from the client that is read.
    let store: Store | undefined

    const fetch = async (after: Position | undefined): Promise<Fetched> => {
      try {
        const cursor = store!.collection.find(rangeFilter(settings, { ...request, after }), { sort: KEYSET_SORT, limit: pageSize, batchSize: pageSize })
        try {
          return { docs: await cursor.toArray() }
        } finally {
          await cursor.close().catch(() => undefined)
        }
      } catch (error) {
        return { error }
      }
    }

    const readPage = (state: RangeState): Effect.Effect<Option.Option<readonly [RangePage, RangeState]>, SourceError> =>
      session
        .attempt(doing, async (current) => {
          store ??= current
          const fetched = await (state.next ?? fetch(state.after))
          if ("error" in fetched) throw fetched.error
          return fetched.docs
        })
        .pipe(
          Effect.flatMap((docs) => {
            const last = docs[docs.length - 1]
            if (last === undefined) return Effect.succeed(Option.none())
            const lastTime = last["timestamp"]
            if (!(lastTime instanceof Date)) {
              return Effect.fail(SourceError.fatal(PLUGIN, `MongoDB returned a document without a Date timestamp for a Date range query (${String(idText(last["_id"]))}); is ${context.database}.${context.collection} FeatBit's Events collection?`))
            }
            const cursor = { timestamp: timestampOfDate(lastTime), id: cursorId(last["_id"]) }
            const done = docs.length < pageSize
            const next = done ? undefined : fetch(cursor)
            const events: Array<ExportEvent> = []
            const rejected: Array<Rejection> = []
            const times: Array<Timestamp.Timestamp> = []
            for (const doc of docs) {
              const time = doc["timestamp"]
              times.push(time instanceof Date ? timestampOfDate(time) : cursor.timestamp)
              const decoded = decodeEventDocument(doc as EventDocument)
              if (decoded._tag === "Right") events.push(decoded.right)
              else rejected.push(decoded.left)
            }
            return Effect.succeed(Option.some([{ events, rejected, cursor, times }, { after: cursor, next, done }] as const))
          })
        )

    return Stream.unfoldEffect<RangeState, RangePage, SourceError, never>({ after: request.after, next: undefined, done: false }, (state) =>
      state.done ? Effect.succeed(Option.none()) : readPage(state)
    )
  })

/**
 * The per-bucket count: `$match` on the range (served by the timestamp index), `$group` on
 * `floor(ms / width)`, where a Date minus the epoch Date is its milliseconds.
 */
export const countPipeline = (settings: ReadSettings, request: CountRequest): Array<Document> => [
  { $match: rangeFilter(settings, request) },
  { $group: { _id: { $floor: { $divide: [{ $subtract: ["$timestamp", new Date(0)] }, request.width] } }, rows: { $sum: 1 } } }
]

/**
 * FeatBit Standard's MongoDB `Events` collection as core's pass needs it: the server's clock (`hello`'s
 * `localTime`), keyset pages of a range, and per-bucket counts. MongoDB keeps no ingest time, so reads cannot
 * be narrowed to new documents: a bucket that grew is read whole.
 */
export const makeReader = (session: Session, settings: ReadSettings): StoreReader => ({
  storeTime: session.attempt("reading the server's clock", (store) => store.db.command({ hello: 1 })).pipe(
    Effect.flatMap((reply) =>
      reply["localTime"] instanceof Date
        ? Effect.succeed({ now: timestampOfDate(reply["localTime"]) })
        : Effect.fail(SourceError.fatal(PLUGIN, `MongoDB at ${session.context.target} answered hello without its localTime; is it a MongoDB server?`))
    )
  ),
  read: (request, pageSize) => readRange(session, settings, request, pageSize),
  count: (request) =>
    session
      .attempt(`counting the documents of ${session.context.database}.${session.context.collection} behind the cursor`, (store) =>
        store.collection.aggregate(countPipeline(settings, request)).toArray()
      )
      .pipe(Effect.map((groups) => groups.map((group) => ({ bucket: Number(group["_id"]), rows: Number(group["rows"]) })))),
  narrows: false
})
