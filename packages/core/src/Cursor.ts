import * as Schema from "effect/Schema"
import type { ExportEvent } from "./Event.js"
import { Timestamp } from "./Timestamp.js"

/**
 * A keyset position `(timestamp, id)`: everything at or before it has been delivered. Never a timestamp
 * alone: FeatBit writes many events in the same millisecond, and a timestamp-only cursor skips the ones
 * that did not fit in the page (the bug of FeatBit's .NET export sample).
 */
export const Cursor = Schema.Struct({
  timestamp: Timestamp,
  id: Schema.String,
  column: Schema.optional(
    Schema.String.annotations({ description: "Which column the timestamp was read from, when not the event time" })
  )
}).annotations({ identifier: "Cursor" })
export type Cursor = typeof Cursor.Type

/** Orders two keyset positions: negative when `a` comes first. */
export const compare = (a: Pick<Cursor, "timestamp" | "id">, b: Pick<Cursor, "timestamp" | "id">): number =>
  a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0

/** True when the event lies strictly after the cursor, i.e. it has not been delivered yet. */
export const isAfter = (event: Pick<ExportEvent, "timestamp" | "id">, cursor: Cursor | undefined): boolean =>
  cursor === undefined || compare(event, cursor) > 0

/** The cursor that points at an event (keyed on its event time). */
export const of = (event: Pick<ExportEvent, "timestamp" | "id">): Cursor => ({ timestamp: event.timestamp, id: event.id })

export const format = (cursor: Cursor | undefined): string =>
  cursor === undefined ? "the beginning" : `(${cursor.timestamp}, ${cursor.id})`
