import { type Cursor, type ExportEvent, type ReadOptions, type Rejection, SourceError, type SourcePage, Timestamp } from "@featbit-export/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { Collection, Document } from "mongodb"
import { type EventDocument, decodeEventDocument, idText } from "./Documents.js"
import { type ErrorContext, PLUGIN, classify } from "./Errors.js"

/** What to read, decoded from the pipeline file. */
export interface ReadSettings {
  /** Only these environments; all when undefined. */
  readonly envIds: ReadonlyArray<string> | undefined
  /** Only these event kinds; all when undefined. */
  readonly events: ReadonlyArray<string> | undefined
  /** Where a read without a committed cursor starts (inclusive). */
  readonly startAt: Timestamp.Timestamp | undefined
  /** Documents at or after it are never read (exclusive). */
  readonly endAt: Timestamp.Timestamp | undefined
  /** The read horizon trails the newest document's timestamp by this much. */
  readonly lag: Duration.Duration
  /** Documents per page; the pipeline's batch size when undefined. */
  readonly batchSize: number | undefined
}

/** An open collection, and what its errors must say. */
export interface Session {
  readonly collection: Collection<Document>
  readonly context: ErrorContext
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

/** The filter on environments and kinds that every query carries. */
export const baseFilter = (settings: Pick<ReadSettings, "envIds" | "events">): Document => ({
  ...(settings.envIds === undefined ? {} : { env_id: { $in: [...settings.envIds] } }),
  ...(settings.events === undefined ? {} : { event: { $in: [...settings.events] } })
})

/**
 * One page's filter: the documents strictly after `after` (or from `startAt`), at or before the horizon,
 * before `endAt`. A cursor on a whole millisecond (every cursor this source commits) becomes the keyset
 * condition `timestamp > T or (timestamp = T and _id > ID)`; a cursor with microseconds (from another source,
 * or a startAt) lies between two BSON Dates and needs only `timestamp > floor(T)`.
 */
export const pageFilter = (settings: ReadSettings, after: Pick<Cursor.Cursor, "timestamp" | "id"> | undefined, horizonMs: number): Document => {
  const range: Record<string, Date> = { $lte: new Date(horizonMs) }
  if (settings.endAt !== undefined) range["$lt"] = new Date(Number(ceilDiv(Timestamp.toMicros(settings.endAt), 1000n)))
  let or: Array<Document> | undefined
  if (after !== undefined) {
    const micros = Timestamp.toMicros(after.timestamp)
    const at = new Date(Number(floorDiv(micros, 1000n)))
    if (micros % 1000n === 0n) {
      range["$gte"] = at
      or = [{ timestamp: { $gt: at } }, { timestamp: at, _id: { $gt: after.id } }]
    } else {
      range["$gt"] = at
    }
  } else if (settings.startAt !== undefined) {
    range["$gte"] = new Date(Number(ceilDiv(Timestamp.toMicros(settings.startAt), 1000n)))
  } else {
    range["$gte"] = MIN_DATE
  }
  return { ...baseFilter(settings), timestamp: range, ...(or === undefined ? {} : { $or: or }) }
}

/**
 * The cursor id of a document. A non-string `_id` (never FeatBit's) is placed where MongoDB sorts it among
 * the strings of its timestamp: a number (or null) before every string (""), anything else (ObjectId, ...)
 * after every uuid (`~` sorts after every uuid character). Further non-string `_id`s of the same millisecond
 * are then skipped rather than dead-lettered (see the README).
 */
const cursorId = (id: unknown): string =>
  typeof id === "string" ? id : id === null || id === undefined || typeof id === "number" || typeof id === "bigint" ? "" : `~${idText(id) ?? ""}`

const attempt = <A>(session: Session, doing: string, run: () => Promise<A>): Effect.Effect<A, SourceError> =>
  Effect.tryPromise({ try: run, catch: (error) => classify(error, session.context, doing) })

/** The newest timestamp of the documents the filters select, in milliseconds; `undefined` when there are none. */
export const newestMillis = (session: Session, settings: ReadSettings): Effect.Effect<number | undefined, SourceError> =>
  attempt(session, "finding the newest event", () =>
    session.collection.findOne({ ...baseFilter(settings), timestamp: { $gte: MIN_DATE } }, { sort: { timestamp: -1 }, projection: { timestamp: 1 } })
  ).pipe(Effect.map((doc) => (doc !== null && doc["timestamp"] instanceof Date ? doc["timestamp"].getTime() : undefined)))

/** A page's documents, or why they could not be read (a settled promise never rejects: see `fetch`). */
type Fetched = { readonly docs: ReadonlyArray<Document> } | { readonly error: unknown }

interface PassState {
  readonly after: Pick<Cursor.Cursor, "timestamp" | "id"> | undefined
  /** The next page's query, already sent while the previous page was being decoded. */
  readonly next: Promise<Fetched> | undefined
  readonly done: boolean
}

/**
 * Reads FeatBit's `Events` collection after a cursor, a page per query, up to the horizon of this pass.
 * A pass first finds the newest timestamp the filters select; the horizon is that minus `lag` (MongoDB keeps
 * no ingest time). Each page is one `find` with the keyset filter, sorted on `{timestamp: 1, _id: 1}`,
 * limited to the page size; a short page ends the pass. A full page's last document fixes the next page's
 * query, so that query is sent before the page is decoded: the server's work overlaps the decoding.
 */
export const readPages = (session: Session, settings: ReadSettings, from: Cursor.Cursor | undefined, options: ReadOptions): Stream.Stream<SourcePage, SourceError> =>
  Stream.suspend(() => {
    if (from?.column !== undefined && from.column !== "timestamp") {
      return Stream.fail(
        SourceError.fatal(
          PLUGIN,
          `the committed cursor is a position on the column ${from.column}, which MongoDB's Events documents do not have; reset the pipeline's checkpoint (featbit-export checkpoints --reset) and set startAt`
        )
      )
    }
    const pageSize = settings.batchSize ?? options.pageSize
    const lagMs = Math.round(Duration.toMillis(settings.lag))
    const { collection, context } = session
    const doing = `reading ${context.database}.${context.collection}`

    const fetch = async (after: PassState["after"], horizonMs: number): Promise<Fetched> => {
      try {
        const cursor = collection.find(pageFilter(settings, after, horizonMs), { sort: KEYSET_SORT, limit: pageSize, batchSize: pageSize })
        try {
          return { docs: await cursor.toArray() }
        } finally {
          await cursor.close().catch(() => undefined)
        }
      } catch (error) {
        return { error }
      }
    }

    const readPage = (state: PassState, horizonMs: number): Effect.Effect<Option.Option<readonly [SourcePage, PassState]>, SourceError> =>
      Effect.promise(() => state.next ?? fetch(state.after, horizonMs)).pipe(
        Effect.flatMap((fetched) => {
          if ("error" in fetched) return Effect.fail(classify(fetched.error, context, doing))
          const docs = fetched.docs
          const last = docs[docs.length - 1]
          if (last === undefined) return Effect.succeed(Option.none())
          const lastTime = last["timestamp"]
          if (!(lastTime instanceof Date)) {
            return Effect.fail(SourceError.fatal(PLUGIN, `MongoDB returned a document without a Date timestamp for a Date range query (${String(idText(last["_id"]))}); is ${context.database}.${context.collection} FeatBit's Events collection?`))
          }
          const position = { timestamp: Timestamp.fromDate(lastTime), id: cursorId(last["_id"]) }
          const done = docs.length < pageSize
          const next = done ? undefined : fetch(position, horizonMs)
          const events: Array<ExportEvent> = []
          const rejected: Array<Rejection> = []
          for (const doc of docs) {
            const decoded = decodeEventDocument(doc as EventDocument)
            if (decoded._tag === "Right") events.push(decoded.right)
            else rejected.push(decoded.left)
          }
          const page: SourcePage = { events, rejected, cursor: position }
          return Effect.succeed(Option.some([page, { after: position, next, done }] as const))
        })
      )

    return Stream.unwrap(
      Effect.map(newestMillis(session, settings), (newest) => {
        if (newest === undefined) return Stream.empty
        const horizonMs = newest - lagMs
        const initial: PassState = { after: from === undefined ? undefined : { timestamp: from.timestamp, id: from.id }, next: undefined, done: false }
        return Stream.unfoldEffect(initial, (state) => (state.done ? Effect.succeed(Option.none()) : readPage(state, horizonMs)))
      })
    )
  })
