import type { FeatBitRow } from "@featbit-export/core"
import { Double, Int32 } from "bson"

/**
 * One FeatBit row as FeatBit Standard's MongoDB `Events` document: `_id` the uuid as a string, snake_case
 * top-level names, `properties` an embedded document (parsed from the row's JSON text when it is one),
 * `timestamp` a Date (milliseconds: FeatBit's event times are whole milliseconds), and `numericValue` an
 * Int32 when whole, a Double otherwise, as `BsonDocument.Parse` stores it. Properties that are not JSON
 * are kept as the string (a malformed document).
 */
export const toMongoEventDocument = (row: FeatBitRow): Record<string, unknown> => {
  let properties: unknown = row.properties
  if (typeof properties === "string") {
    try {
      properties = JSON.parse(properties)
    } catch {
      // stays a string: the source must reject it
    }
  }
  if (typeof properties === "object" && properties !== null && !Array.isArray(properties)) {
    const value = (properties as Record<string, unknown>)["numericValue"]
    if (typeof value === "number") {
      properties = {
        ...properties,
        numericValue: Number.isInteger(value) && Math.abs(value) < 2 ** 31 ? new Int32(value) : new Double(value)
      }
    }
  }
  return {
    _id: row.id,
    distinct_id: row.distinctId,
    env_id: row.envId,
    event: row.event,
    properties,
    timestamp: new Date(Date.parse(row.timestamp.slice(0, 23) + "Z"))
  }
}
