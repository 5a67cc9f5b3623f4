import * as Either from "effect/Either"
import type { EventUser, ExportEvent } from "./Event.js"
import { errorText, toJson } from "./internal/files.js"
import type { Timestamp } from "./Timestamp.js"

/**
 * One event as FeatBit's stores hold it, before decoding: the ClickHouse `events` columns, the MongoDB
 * `Events` document and the PostgreSQL `events` row all map onto this. `properties` is a JSON string in
 * ClickHouse and an object in MongoDB and PostgreSQL.
 */
export interface FeatBitRow {
  readonly id: string
  readonly distinctId: string
  readonly envId: string
  readonly event: string
  readonly properties: string | Readonly<Record<string, unknown>>
  readonly timestamp: Timestamp
  readonly ingestedAt?: Timestamp | undefined
}

/** A row that could not become a canonical event: it goes to the dead-letter file, never silently away. */
export interface Rejection {
  readonly id: string | undefined
  readonly reason: string
  readonly raw: unknown
}

const tagKey = /^tag_\d+$/

class RowProblem {
  constructor(readonly reason: string) {}
}

const text = (properties: Readonly<Record<string, unknown>>, key: string): string => {
  const value = properties[key]
  if (value === undefined || value === null) return ""
  if (typeof value === "string") return value
  throw new RowProblem(`properties.${key} should be a string, found ${typeof value}`)
}

const requiredText = (properties: Readonly<Record<string, unknown>>, key: string): string => {
  const value = properties[key]
  if (typeof value === "string" && value.length > 0) return value
  throw new RowProblem(
    value === undefined || value === null || value === ""
      ? `properties.${key} is missing`
      : `properties.${key} should be a string, found ${typeof value}`
  )
}

const asObject = (value: unknown, what: string): Readonly<Record<string, unknown>> => {
  if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as Record<string, unknown>
  throw new RowProblem(`${what} should be an object, found ${value === null ? "null" : Array.isArray(value) ? "array" : typeof value}`)
}

const parseProperties = (properties: FeatBitRow["properties"]): Readonly<Record<string, unknown>> => {
  if (typeof properties !== "string") return asObject(properties, "properties")
  let parsed: unknown
  try {
    parsed = JSON.parse(properties)
  } catch (error) {
    throw new RowProblem(`properties is not valid JSON (${(error as Error).message})`)
  }
  return asObject(parsed, "properties")
}

const tagsOf = (properties: Readonly<Record<string, unknown>>): Record<string, string> => {
  const tags: Record<string, string> = {}
  for (const key in properties) {
    if (tagKey.test(key)) {
      const value = properties[key]
      if (value === undefined || value === null) continue
      tags[key] = typeof value === "string" ? value : typeof value === "object" ? toJson(value) : String(value)
    }
  }
  return tags
}

const numberOf = (properties: Readonly<Record<string, unknown>>, key: string): number => {
  const value = properties[key]
  if (typeof value === "number" && Number.isFinite(value)) return value
  if (typeof value === "bigint") return Number(value)
  if (typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))) return Number(value)
  // BSON Int64 / Decimal128 values (when the driver does not promote them) arrive as objects that know how
  // to become numbers; nothing else that is an object does.
  if (typeof value === "object" && value !== null && "_bsontype" in value) {
    const parsed = Number(String(value))
    if (Number.isFinite(parsed)) return parsed
  }
  throw new RowProblem(value === undefined || value === null ? `properties.${key} is missing` : `properties.${key} is not a number`)
}

const booleanOf = (properties: Readonly<Record<string, unknown>>, key: string): boolean => {
  const value = properties[key]
  if (typeof value === "boolean") return value
  if (value === "true") return true
  if (value === "false" || value === undefined || value === null) return false
  throw new RowProblem(`properties.${key} should be a boolean`)
}

const metricUser = (properties: Readonly<Record<string, unknown>>): EventUser => {
  const user = asObject(properties["user"] ?? null, "properties.user")
  return { keyId: requiredText(user, "keyId"), name: text(user, "name") }
}

// Each kind is built as one object literal, with the same keys in the same order every time: this runs
// once per exported row, and one stable shape per kind keeps allocation and garbage collection low.
const decode = (row: FeatBitRow): ExportEvent => {
  if (typeof row.id !== "string" || row.id.length === 0) throw new RowProblem("the row has no uuid")
  const properties = parseProperties(row.properties)
  switch (row.event) {
    case "FlagValue":
      return {
        event: "FlagValue",
        id: row.id,
        envId: row.envId,
        distinctId: row.distinctId,
        timestamp: row.timestamp,
        ingestedAt: row.ingestedAt,
        user: { keyId: requiredText(properties, "userKeyId"), name: text(properties, "userName") },
        route: text(properties, "route"),
        accountId: text(properties, "accountId"),
        projectId: text(properties, "projectId"),
        tags: tagsOf(properties),
        properties,
        flagId: text(properties, "flagId") || row.distinctId,
        flagKey: requiredText(properties, "featureFlagKey"),
        variationId: requiredText(properties, "variationId"),
        sendToExperiment: booleanOf(properties, "sendToExperiment")
      }
    case "CustomEvent":
    case "PageView":
    case "Click":
      return {
        event: row.event,
        id: row.id,
        envId: row.envId,
        distinctId: row.distinctId,
        timestamp: row.timestamp,
        ingestedAt: row.ingestedAt,
        user: metricUser(properties),
        route: text(properties, "route"),
        accountId: text(properties, "accountId"),
        projectId: text(properties, "projectId"),
        tags: tagsOf(properties),
        properties,
        eventName: requiredText(properties, "eventName"),
        numericValue: numberOf(properties, "numericValue"),
        applicationType: text(properties, "applicationType")
      }
    default:
      throw new RowProblem(`unknown event type ${JSON.stringify(row.event)} (expected FlagValue, CustomEvent, PageView or Click)`)
  }
}

/**
 * Decodes one stored FeatBit event into the canonical event, or says why it cannot; never throws. Hand-written rather
 * than `Schema.decode` because it runs once per exported row; the result always satisfies the
 * `ExportEvent` schema (the tests check that).
 */
export const decodeFeatBitRow = (row: FeatBitRow): Either.Either<ExportEvent, Rejection> => {
  try {
    return Either.right(decode(row))
  } catch (problem) {
    // Whatever went wrong, this row goes to the dead-letter file: one odd row must not stop the pipeline.
    const reason = problem instanceof RowProblem ? problem.reason : `cannot decode the row: ${errorText(problem)}`
    return Either.left({ id: typeof row.id === "string" ? row.id : undefined, reason, raw: row })
  }
}
