import { type ExportEvent, type FeatBitRow, type Rejection, Timestamp, decodeFeatBitRow } from "@featbit-export/core"
import * as Either from "effect/Either"

/** A document as the driver hands it over. */
export type EventDocument = Readonly<Record<string, unknown>>

const kindOf = (value: unknown): string =>
  value === null
    ? "null"
    : value === undefined
      ? "missing"
      : Array.isArray(value)
        ? "an array"
        : value instanceof Date
          ? "a Date"
          : typeof value === "object"
            ? (value as { _bsontype?: string })._bsontype ?? "an embedded document"
            : `a ${typeof value}`

const isDocument = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Date) && !("_bsontype" in value)

/** The text a rejected document's `_id` is recorded under (an ObjectId as its hex). */
export const idText = (id: unknown): string | undefined =>
  typeof id === "string" ? id : id === undefined || id === null ? undefined : typeof id === "object" && "toHexString" in id ? String((id as { toHexString: () => string }).toHexString()) : String(id)

/**
 * A BSON Date as core's Timestamp. `toISOString` gives `2023-12-12T07:42:13.320Z` for the years 0 to 9999,
 * which only needs three zeros; other years go through core's general conversion.
 */
export const timestampOfDate = (date: Date): Timestamp.Timestamp => {
  const iso = date.toISOString()
  return iso.length === 24 ? ((iso.slice(0, 23) + "000Z") as Timestamp.Timestamp) : Timestamp.fromDate(date)
}

const reject = (doc: EventDocument, reason: string): Either.Either<ExportEvent, Rejection> =>
  Either.left({ id: idText(doc["_id"]), reason, raw: doc })

/**
 * Decodes one FeatBit Standard `Events` document (`_id` the uuid as a string, snake_case `distinct_id`,
 * `env_id`, `event`, an embedded `properties` document, a Date `timestamp`) into the canonical event, or
 * says why it cannot. Never throws.
 */
export const decodeEventDocument = (doc: EventDocument): Either.Either<ExportEvent, Rejection> => {
  const id = doc["_id"]
  if (typeof id !== "string" || id.length === 0) {
    return reject(doc, id === undefined ? "the document has no _id" : `_id should be the event's uuid as a string, found ${kindOf(id)}`)
  }
  const timestamp = doc["timestamp"]
  if (!(timestamp instanceof Date) || Number.isNaN(timestamp.getTime())) return reject(doc, `timestamp should be a Date, found ${kindOf(timestamp)}`)
  const distinctId = doc["distinct_id"]
  const envId = doc["env_id"]
  const event = doc["event"]
  for (const [key, value] of [["distinct_id", distinctId], ["env_id", envId], ["event", event]] as const) {
    if (typeof value !== "string") return reject(doc, `${key} should be a string, found ${kindOf(value)}`)
  }
  const properties = doc["properties"]
  if (!isDocument(properties)) return reject(doc, `properties should be an embedded document, found ${kindOf(properties)}`)
  const row: FeatBitRow = {
    id,
    distinctId: distinctId as string,
    envId: envId as string,
    event: event as string,
    properties,
    timestamp: timestampOfDate(timestamp)
  }
  const decoded = decodeFeatBitRow(row)
  // core's rejection carries the FeatBitRow; the dead-letter file should show the document as stored.
  return Either.isLeft(decoded) ? Either.left({ ...decoded.left, raw: doc }) : decoded
}
