import * as http from "node:http"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { faultSchedule, type SeededFaults } from "../receivers/Faults.js"
import { gunzipWithin, mediaType, readBody } from "../receivers/HttpBody.js"
import { listen, scopedReceiver } from "../receivers/Listen.js"
import { countedReplies, writeJson } from "../receivers/Replies.js"

/**
 * A local stand-in for Mixpanel's `POST /import` that enforces the documented contract
 * (`reference/import-events.mdx`, `reference/event-deduplication.mdx`, the ingestion OpenAPI responses; see
 * `protocols-round2.md` section 2). Where the documentation is silent the choice made here is noted at the
 * point it is made.
 */

/** A fault the receiver plays instead of answering normally. Every fault reads the whole request body first. */
export type MixpanelFault =
  /** 429 with Mixpanel's JSON body; `Retry-After` only when given (Mixpanel documents none). */
  | { readonly kind: "429"; readonly retryAfter?: string | undefined }
  /** 502 Bad Gateway; nothing is stored. */
  | { readonly kind: "502" }
  /** 503 Service Unavailable; nothing is stored. */
  | { readonly kind: "503" }
  /** The connection is destroyed before the request is processed: nothing is stored. */
  | { readonly kind: "reset" }
  /** The request is processed and its valid events stored, then the connection is destroyed: the sender never learns it. */
  | { readonly kind: "resetAfterStore" }
  /** The request is read and never answered; the connection stays open until the sender gives up or the receiver stops. Nothing is stored. */
  | { readonly kind: "hang" }

export type MixpanelFaultKind = MixpanelFault["kind"]

export interface MixpanelServiceAccount {
  readonly username: string
  readonly secret: string
}

export interface MixpanelReceiverOptions {
  /** The project the credentials belong to; `project_id` in the query must name it. Default `"1"`. */
  readonly projectId?: string
  /** The project token: accepted as the Basic username with an empty password. Default `"test-project-token"`. */
  readonly token?: string
  /** The project API secret (legacy `ProjectSecret`): accepted as the Basic username with an empty password, or as `api_key=` on the legacy form. */
  readonly secret?: string
  /** Service accounts (`username:secret`); a request authenticated with one must carry `project_id`. */
  readonly serviceAccounts?: ReadonlyArray<MixpanelServiceAccount>
  /** 0 (default): any free port. */
  readonly port?: number
  /** Default `127.0.0.1`. */
  readonly host?: string
  /** Uncompressed request limit, answered 413. Default 10 MB (10 × 1024 × 1024, the prose figure; the OpenAPI 413 example says 2,097,152). */
  readonly maxRequestBytes?: number
  /** Default 2,000 records per request, answered 413 above it. */
  readonly maxEventsPerRequest?: number
  /** Per-event limit of uncompressed JSON; an event of this size or more fails validation. Default 1 MiB. */
  readonly maxEventBytes?: number
  /** Whether a request without `strict` is validated strictly. Default false (the OpenAPI says `'1'`, the prose treats strict as opt-in). */
  readonly defaultStrict?: boolean
  /** Accept the legacy `application/x-www-form-urlencoded` `data=<base64 JSON>` form the `mixpanel` npm client sends (default true). */
  readonly acceptLegacyForm?: boolean
  /** The key naming the insert id in `failed_records`: `$insert_id` (the page, default) or `insert_id` (the OpenAPI schema). */
  readonly failedRecordInsertIdKey?: "$insert_id" | "insert_id"
  /** Faults played on a share of requests, chosen with a seeded generator (after any scripted ones). */
  readonly faults?: SeededFaults<MixpanelFault>
  /** Keep the events and raw records (default true); false keeps only the dedupe keys and counts (benchmarks). */
  readonly keepEvents?: boolean
  /** The clock (ms since epoch) that the `time` window is checked against. Default `Date.now`. */
  readonly now?: () => number
}

/** An event as stored: `properties.time` as sent, string property values truncated to 255 characters. */
export interface MixpanelEvent {
  readonly event: string
  readonly properties: Readonly<Record<string, unknown>>
}

/** One entry of a strict 400's `failed_records`. */
export interface MixpanelFailedRecord {
  readonly index: number
  /** `""` when the record has no string `$insert_id`. The key is `insert_id` when `failedRecordInsertIdKey` says so. */
  readonly $insert_id: string
  readonly field: string
  readonly message: string
}

export type MixpanelAuth = "serviceAccount" | "token" | "secret" | "apiKey"

/** One request to `/import` as the receiver saw and answered it. */
export interface MixpanelRequestRecord {
  readonly query: Readonly<Record<string, string>>
  /** 0 when the connection was destroyed or never answered. */
  readonly status: number
  /** Records in the body (0 when it was not parsed). */
  readonly count: number
  /** `num_records_imported` (duplicates included, as Mixpanel counts them). */
  readonly imported: number
  /** Records refused: listed in `failed_records` (strict) or dropped silently (not strict). */
  readonly failed: number
  /** Imported records that were already stored. */
  readonly duplicates: number
  readonly strict: boolean
  readonly format: "json" | "ndjson" | "form" | undefined
  readonly gzip: boolean
  readonly auth: MixpanelAuth | undefined
  readonly fault: MixpanelFaultKind | undefined
  /** Body bytes on the wire (compressed when gzipped). */
  readonly bytes: number
}

export interface MixpanelReceiverStats {
  /** Requests other than `GET /stats`. */
  readonly requests: number
  readonly statuses: Record<string, number>
  readonly faults: number
  /** Records in authenticated, parsed requests, invalid ones included. */
  readonly received: number
  /** Records imported, duplicates included. */
  readonly imported: number
  /** Distinct dedupe 4-tuples stored. */
  readonly unique: number
  readonly duplicates: number
  /** Records listed in `failed_records` of strict 400s. */
  readonly failedRecords: number
  /** Invalid records dropped silently (requests without strict). */
  readonly dropped: number
}

export interface MixpanelReceiver {
  readonly url: string
  readonly port: number
  readonly projectId: string
  readonly token: string
  /** Stored events, one per dedupe 4-tuple, in first-arrival order (empty when keepEvents is false). */
  readonly events: ReadonlyArray<MixpanelEvent>
  /** Every record of every authenticated, parsed request, as sent: invalid ones and duplicates included. */
  readonly received: ReadonlyArray<unknown>
  /** The copies of already stored events that were imported again (not stored). */
  readonly duplicates: ReadonlyArray<MixpanelEvent>
  /** Every `/import` request in arrival order. */
  readonly requests: ReadonlyArray<MixpanelRequestRecord>
  /** The `$insert_id`s of the stored events, in order. */
  readonly insertIds: () => ReadonlyArray<string>
  readonly stats: () => MixpanelReceiverStats
  /** Plays `fault` on the next `count` (default 1; `Infinity` for all) requests to `/import`, before any random ones. */
  readonly fault: (fault: MixpanelFault, options?: { readonly count?: number }) => void
  /** Drops the scripted faults not yet played. */
  readonly clearFaults: () => void
  readonly stop: () => Promise<void>
}

export const MIXPANEL_MAX_REQUEST_BYTES = 10 * 1024 * 1024
export const MIXPANEL_MAX_EVENTS_PER_REQUEST = 2_000
export const MIXPANEL_MAX_EVENT_BYTES = 1024 * 1024
/** Properties per event, keys per nested object and elements per array must be fewer than this. */
export const MIXPANEL_MAX_PROPERTIES = 255
export const MIXPANEL_MAX_NESTING_DEPTH = 3
export const MIXPANEL_MAX_STRING_LENGTH = 255
export const MIXPANEL_MAX_INSERT_ID_BYTES = 36
/** Earliest accepted `time`: 1971-01-01T00:00:00Z. */
export const MIXPANEL_MIN_TIME_MS = Date.UTC(1971, 0, 1)
/** Latest accepted `time`: one hour after now. */
export const MIXPANEL_MAX_FUTURE_MS = 60 * 60 * 1000
/** The values `distinct_id` (and `$insert_id`) may not take. */
export const MIXPANEL_DENIED_IDS: ReadonlySet<string> = new Set([
  "00000000-0000-0000-0000-000000000000",
  "anon",
  "anonymous",
  "nil",
  "none",
  "null",
  "n/a",
  "na",
  "undefined",
  "unknown",
  "<nil>",
  "0",
  "-1",
  "true",
  "false",
  "[]",
  "{}"
])

/** The exact bodies of the OpenAPI `components.responses`. */
export const mixpanelBodies = {
  ok: (imported: number) => ({ code: 200, num_records_imported: imported, status: "OK" }),
  failed: (failed: ReadonlyArray<Record<string, unknown>>, imported: number) => ({
    code: 400,
    error: "some data points in the request failed validation",
    failed_records: failed,
    num_records_imported: imported,
    status: "Bad Request"
  }),
  badRequest: (error: string) => ({ code: 400, error, status: "Bad Request" }),
  unauthorized: { code: 401, error: "Invalid credentials", status: "Unauthorized" },
  tooLarge: (error: string) => ({ code: 413, error, status: "Request Entity Too Large" }),
  rateLimited: { code: 429, error: "Project exceeded rate limits. Please retry the request with exponential backoff.", status: "Too Many Requests" },
  // Not documented: the shape of the others, with the reason phrase.
  badGateway: { code: 502, error: "Bad Gateway", status: "Bad Gateway" },
  unavailable: { code: 503, error: "Service Unavailable", status: "Service Unavailable" }
} as const

/** Why an event fails validation, or undefined when it passes. */
export interface MixpanelInvalid {
  readonly field: string
  readonly message: string
}

/**
 * `time` in milliseconds: Mixpanel takes seconds or milliseconds. Valid seconds (< 1e10, until 2286) and
 * valid milliseconds (>= 1971-01-01, 3.15e10) never overlap, so the unit is read from the size.
 */
export const mixpanelTimeMs = (time: number): number => (time < 1e10 ? Math.round(time * 1000) : Math.floor(time))

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value)
const denied = (id: string) => MIXPANEL_DENIED_IDS.has(id.toLowerCase())

/** The nesting depth of a value: 0 for a scalar, 1 + the deepest child for an object or array. */
const depthOf = (value: unknown): number => {
  if (Array.isArray(value)) return 1 + value.reduce((max: number, v) => Math.max(max, depthOf(v)), 0)
  if (isRecord(value)) return 1 + Object.values(value).reduce((max: number, v) => Math.max(max, depthOf(v)), 0)
  return 0
}

/** The first oversized object or array inside a value, as a reason. */
const oversized = (value: unknown): string | undefined => {
  if (Array.isArray(value)) {
    if (value.length >= MIXPANEL_MAX_PROPERTIES) return `an array has ${value.length} elements (must be fewer than ${MIXPANEL_MAX_PROPERTIES})`
    for (const v of value) {
      const inner = oversized(v)
      if (inner !== undefined) return inner
    }
  } else if (isRecord(value)) {
    const keys = Object.keys(value)
    if (keys.length >= MIXPANEL_MAX_PROPERTIES) return `an object has ${keys.length} keys (must be fewer than ${MIXPANEL_MAX_PROPERTIES})`
    for (const v of Object.values(value)) {
      const inner = oversized(v)
      if (inner !== undefined) return inner
    }
  }
  return undefined
}

/**
 * Validates one `/import` record against `reference/import-events.mdx` and returns the first failure. The
 * messages are this double's own (Mixpanel's wording is not documented); the `field` names follow the
 * OpenAPI example (`properties.time`).
 */
export const validateMixpanelEvent = (
  record: unknown,
  options: { readonly now: number; readonly maxEventBytes?: number }
): MixpanelInvalid | undefined => {
  if (!isRecord(record)) return { field: "record", message: "the record is not a JSON object" }
  const event = record["event"]
  if (typeof event !== "string" || event === "") return { field: "event", message: "'event' must be a non-empty string" }
  const properties = record["properties"]
  if (!isRecord(properties)) return { field: "properties", message: "'properties' must be a JSON object" }
  const bytes = Buffer.byteLength(JSON.stringify(record))
  const maxEventBytes = options.maxEventBytes ?? MIXPANEL_MAX_EVENT_BYTES
  if (bytes >= maxEventBytes) return { field: "record", message: `the event is ${bytes} bytes of JSON (must be under ${maxEventBytes})` }
  const count = Object.keys(properties).length
  if (count >= MIXPANEL_MAX_PROPERTIES) {
    return { field: "properties", message: `the event has ${count} properties (must be fewer than ${MIXPANEL_MAX_PROPERTIES})` }
  }

  const time = properties["time"]
  if (time === undefined) return { field: "properties.time", message: "'properties.time' must be specified" }
  if (typeof time !== "number" || !Number.isFinite(time)) return { field: "properties.time", message: "'properties.time' must be a number of seconds or milliseconds since epoch" }
  const ms = mixpanelTimeMs(time)
  if (ms < MIXPANEL_MIN_TIME_MS) return { field: "properties.time", message: "'properties.time' is before 1971-01-01" }
  if (ms > options.now + MIXPANEL_MAX_FUTURE_MS) return { field: "properties.time", message: "'properties.time' is more than 1 hour in the future" }

  const distinctId = properties["distinct_id"]
  if (distinctId === undefined) return { field: "properties.distinct_id", message: "'properties.distinct_id' must be specified" }
  if (typeof distinctId !== "string") return { field: "properties.distinct_id", message: "'properties.distinct_id' must be a string" }
  if (denied(distinctId)) return { field: "properties.distinct_id", message: `'properties.distinct_id' may not be ${JSON.stringify(distinctId)}` }

  const insertId = properties["$insert_id"]
  if (insertId === undefined) return { field: "properties.$insert_id", message: "'properties.$insert_id' must be specified" }
  if (typeof insertId !== "string") return { field: "properties.$insert_id", message: "'properties.$insert_id' must be a string" }
  if (Buffer.byteLength(insertId) > MIXPANEL_MAX_INSERT_ID_BYTES) {
    return { field: "properties.$insert_id", message: `'properties.$insert_id' must be at most ${MIXPANEL_MAX_INSERT_ID_BYTES} bytes` }
  }
  if (!/^[A-Za-z0-9-]+$/.test(insertId)) return { field: "properties.$insert_id", message: "'properties.$insert_id' may contain only alphanumerics and '-'" }
  if (denied(insertId)) return { field: "properties.$insert_id", message: `'properties.$insert_id' may not be ${JSON.stringify(insertId)}` }

  for (const [key, value] of Object.entries(properties)) {
    if (typeof value !== "object" || value === null) continue
    const depth = depthOf(value)
    if (depth > MIXPANEL_MAX_NESTING_DEPTH) {
      return { field: `properties.${key}`, message: `'properties.${key}' is nested ${depth} deep (at most ${MIXPANEL_MAX_NESTING_DEPTH})` }
    }
    const reason = oversized(value)
    if (reason !== undefined) return { field: `properties.${key}`, message: `'properties.${key}': ${reason}` }
  }
  return undefined
}

/** Strings truncated to 255 characters (code points), at any depth. */
const truncate = (value: unknown): unknown => {
  if (typeof value === "string") {
    if (value.length <= MIXPANEL_MAX_STRING_LENGTH) return value
    const points = Array.from(value)
    return points.length <= MIXPANEL_MAX_STRING_LENGTH ? value : points.slice(0, MIXPANEL_MAX_STRING_LENGTH).join("")
  }
  if (Array.isArray(value)) return value.map(truncate)
  if (isRecord(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, truncate(v)]))
  return value
}

/** The dedupe 4-tuple of a valid event (after truncation), as a string. */
export const mixpanelDedupeKey = (event: MixpanelEvent): string =>
  JSON.stringify([event.event, event.properties["distinct_id"], mixpanelTimeMs(event.properties["time"] as number), event.properties["$insert_id"]])

interface Answer {
  readonly status: number
  readonly body: unknown
  /** Sent as is (the legacy form's `1`); otherwise the body is JSON. */
  readonly text?: string
}

class Refusal {
  constructor(readonly answer: Answer) {}
}

/**
 * A local stand-in for Mixpanel's `POST /import`: HTTP Basic auth with a service account (`username:secret`
 * plus `project_id`) or the project token or secret as the username with an empty password, else 401; a JSON
 * array or ndjson body, gzipped or not; 413 above 2,000 records or the byte limit; with `strict=1` a 400 listing
 * `failed_records` while the valid records are imported, without it the invalid ones dropped silently; events
 * stored once per (`event`, `distinct_id`, `time`, `$insert_id`); the legacy `data=` form answered `1`. It plays
 * scripted and seeded faults (429, 502, 503, a reset before or after storing, a request never answered).
 * `GET /stats` returns the counters as JSON.
 */
export const startMixpanelReceiver = async (options: MixpanelReceiverOptions = {}): Promise<MixpanelReceiver> => {
  const projectId = options.projectId ?? "1"
  const token = options.token ?? "test-project-token"
  const secret = options.secret
  const serviceAccounts = options.serviceAccounts ?? []
  const maxRequestBytes = options.maxRequestBytes ?? MIXPANEL_MAX_REQUEST_BYTES
  const maxEvents = options.maxEventsPerRequest ?? MIXPANEL_MAX_EVENTS_PER_REQUEST
  const maxEventBytes = options.maxEventBytes ?? MIXPANEL_MAX_EVENT_BYTES
  const insertIdKey = options.failedRecordInsertIdKey ?? "$insert_id"
  const keep = options.keepEvents ?? true
  const now = options.now ?? Date.now
  const schedule = faultSchedule(options.faults)
  const replies = countedReplies()

  const events: Array<MixpanelEvent> = []
  const received: Array<unknown> = []
  const duplicateCopies: Array<MixpanelEvent> = []
  const requests: Array<MixpanelRequestRecord> = []
  const keys = new Set<string>()
  let requestCount = 0
  let receivedCount = 0
  let imported = 0
  let duplicates = 0
  let failedRecords = 0
  let dropped = 0

  const stats = (): MixpanelReceiverStats => ({
    requests: requestCount,
    statuses: replies.statuses(),
    faults: schedule.played(),
    received: receivedCount,
    imported,
    unique: keys.size,
    duplicates,
    failedRecords,
    dropped
  })

  const send = (res: http.ServerResponse, answer: Answer, headers: Record<string, string> = {}) =>
    answer.text === undefined ? replies.sendJson(res, answer.status, answer.body, headers) : replies.send(res, answer.status, answer.text, "text/plain", headers)

  const basic = (req: http.IncomingMessage): { user: string; password: string } | undefined => {
    const header = req.headers.authorization
    if (header === undefined || !/^basic /i.test(header)) return undefined
    const decoded = Buffer.from(header.slice(6).trim(), "base64").toString("utf8")
    const colon = decoded.indexOf(":")
    return colon < 0 ? { user: decoded, password: "" } : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) }
  }

  /** Which credentials the request carries, or undefined when they are refused. */
  const authenticate = (req: http.IncomingMessage, query: URLSearchParams, legacy: boolean): MixpanelAuth | undefined => {
    const givenProject = query.get("project_id")
    // A project named in the query must be this one, whatever the credentials (undocumented: Mixpanel may answer 403).
    if (givenProject !== null && givenProject !== projectId) return undefined
    const credentials = basic(req)
    if (credentials === undefined) {
      // The `mixpanel` npm client's deprecated `key` goes in the query, on the legacy form.
      const apiKey = query.get("api_key")
      if (legacy && req.headers.authorization === undefined && secret !== undefined && apiKey === secret) return "apiKey"
      return undefined
    }
    if (credentials.password !== "") {
      const account = serviceAccounts.find((a) => a.username === credentials.user && a.secret === credentials.password)
      return account !== undefined && givenProject !== null ? "serviceAccount" : undefined
    }
    if (credentials.user === token) return "token"
    if (secret !== undefined && credentials.user === secret) return "secret"
    return undefined
  }

  const decode = (req: http.IncomingMessage, raw: Buffer): Buffer => {
    const encoding = (req.headers["content-encoding"] ?? "identity").trim().toLowerCase()
    if (encoding === "identity" || encoding === "") {
      if (raw.length > maxRequestBytes) throw new Refusal({ status: 413, body: mixpanelBodies.tooLarge(`request exceeds max limit of ${maxRequestBytes} bytes`) })
      return raw
    }
    if (encoding !== "gzip") throw new Refusal({ status: 415, body: { code: 415, error: `unsupported Content-Encoding ${encoding}`, status: "Unsupported Media Type" } })
    const gunzipped = gunzipWithin(raw, maxRequestBytes)
    if (gunzipped.ok) return gunzipped.body
    // Any RangeError is read as the limit too (zlib also throws one for a limit it cannot take).
    if (gunzipped.tooLarge || gunzipped.error instanceof RangeError) {
      throw new Refusal({ status: 413, body: mixpanelBodies.tooLarge(`request exceeds max limit of ${maxRequestBytes} bytes`) })
    }
    throw new Refusal({ status: 400, body: mixpanelBodies.badRequest("unable to decompress the gzip body") })
  }

  const parse = (format: "json" | "ndjson" | "form", body: Buffer): Array<unknown> => {
    const text = body.toString("utf8")
    const bad = (error: string) => new Refusal({ status: 400, body: mixpanelBodies.badRequest(error) })
    if (format === "ndjson") {
      const records: Array<unknown> = []
      for (const [i, line] of text.split("\n").entries()) {
        if (line.trim() === "") continue
        try {
          records.push(JSON.parse(line))
        } catch {
          throw bad(`unable to parse line ${i + 1} of the ndjson body`)
        }
      }
      return records
    }
    let json = text
    if (format === "form") {
      const data = new URLSearchParams(text).get("data")
      if (data === null) throw bad("the form body has no data field")
      json = Buffer.from(data, "base64").toString("utf8")
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(json)
    } catch {
      throw bad("unable to parse the request body as JSON")
    }
    // The legacy form carries one event or an array of them; the JSON body must be an array.
    if (format === "form" && isRecord(parsed)) return [parsed]
    if (!Array.isArray(parsed)) throw bad("the request body must be a JSON array of events")
    return parsed
  }

  const store = (records: ReadonlyArray<unknown>) => {
    const at = now()
    const failed: Array<Record<string, unknown>> = []
    let ok = 0
    let dups = 0
    for (const [index, record] of records.entries()) {
      const invalid = validateMixpanelEvent(record, { now: at, maxEventBytes })
      if (invalid !== undefined) {
        const insertId = isRecord(record) && isRecord(record["properties"]) ? record["properties"]["$insert_id"] : undefined
        failed.push({ index, [insertIdKey]: typeof insertId === "string" ? insertId : "", field: invalid.field, message: invalid.message })
        continue
      }
      const valid = record as Record<string, unknown>
      const event: MixpanelEvent = { event: valid["event"] as string, properties: truncate(valid["properties"]) as Record<string, unknown> }
      const key = mixpanelDedupeKey(event)
      ok++
      if (keys.has(key)) {
        dups++
        if (keep) duplicateCopies.push(event)
      } else {
        keys.add(key)
        if (keep) events.push(event)
      }
    }
    imported += ok
    duplicates += dups
    return { failed, ok, dups }
  }

  const handle = (req: http.IncomingMessage, res: http.ServerResponse, raw: Buffer) => {
    const url = new URL(req.url ?? "/", "http://receiver")
    if (url.pathname !== "/import") return send(res, { status: 404, body: { code: 404, error: "not found", status: "Not Found" } })
    if (req.method !== "POST") return send(res, { status: 405, body: { code: 405, error: "method not allowed", status: "Method Not Allowed" } })
    const query = url.searchParams
    const strictParam = query.get("strict")
    const strict = strictParam === null ? (options.defaultStrict ?? false) : strictParam === "1"
    const contentType = mediaType(req)
    const format = contentType === "application/x-ndjson" ? "ndjson" : contentType === "application/x-www-form-urlencoded" ? "form" : "json"
    const gzip = (req.headers["content-encoding"] ?? "").trim().toLowerCase() === "gzip"
    const fault = schedule.next()
    let auth: MixpanelAuth | undefined
    let count = 0
    let outcome = { failed: 0, ok: 0, dups: 0 }
    const record = (status: number) =>
      requests.push({
        query: Object.fromEntries(query),
        status,
        count,
        imported: outcome.ok,
        failed: outcome.failed,
        duplicates: outcome.dups,
        strict,
        format,
        gzip,
        auth,
        fault: fault?.kind,
        bytes: raw.length
      })
    const reply = (answer: Answer, headers: Record<string, string> = {}) => {
      if (fault?.kind === "resetAfterStore") {
        record(0)
        return void req.socket.destroy()
      }
      record(answer.status)
      send(res, answer, headers)
    }

    switch (fault?.kind) {
      case "reset":
        record(0)
        return void req.socket.destroy()
      case "hang":
        return record(0)
      case "429":
        return reply({ status: 429, body: mixpanelBodies.rateLimited }, fault.retryAfter === undefined ? {} : { "retry-after": fault.retryAfter })
      case "502":
        return reply({ status: 502, body: mixpanelBodies.badGateway })
      case "503":
        return reply({ status: 503, body: mixpanelBodies.unavailable })
      default:
        break
    }

    try {
      if (format === "form" && options.acceptLegacyForm === false) {
        throw new Refusal({ status: 415, body: { code: 415, error: "application/x-www-form-urlencoded is not accepted", status: "Unsupported Media Type" } })
      }
      auth = authenticate(req, query, format === "form")
      if (auth === undefined) throw new Refusal({ status: 401, body: mixpanelBodies.unauthorized })
      const records = parse(format, decode(req, raw))
      count = records.length
      if (count > maxEvents) throw new Refusal({ status: 413, body: mixpanelBodies.tooLarge(`request exceeds max limit of ${maxEvents} records`) })
      receivedCount += count
      if (keep) received.push(...records)
      const { failed, ok, dups } = store(records)
      outcome = { failed: failed.length, ok, dups }
      if (strict) failedRecords += failed.length
      else dropped += failed.length
      if (format === "form" && !strict) {
        // What the `mixpanel` npm client expects: `1`, or `{status: 1}` with verbose=1.
        return reply(query.get("verbose") === "1" ? { status: 200, body: { status: 1, error: null } } : { status: 200, body: 1, text: "1" })
      }
      if (strict && failed.length > 0) return reply({ status: 400, body: mixpanelBodies.failed(failed, ok) })
      reply({ status: 200, body: mixpanelBodies.ok(ok) })
    } catch (error) {
      if (!(error instanceof Refusal)) throw error
      if (format === "form" && !strict && error.answer.status === 400) {
        return reply(query.get("verbose") === "1" ? { status: 200, body: { status: 0, error: (error.answer.body as { error: string }).error } } : { status: 200, body: 0, text: "0" })
      }
      reply(error.answer)
    }
  }

  const server = http.createServer((req, res) => {
    if (req.method === "GET" && (req.url ?? "").split("?")[0] === "/stats") {
      // Not counted in the statuses: reading the counters does not change them.
      return writeJson(res, 200, stats())
    }
    requestCount++
    readBody(req, (raw) => {
      try {
        handle(req, res, raw)
      } catch (error) {
        if (!res.headersSent) send(res, { status: 500, body: { code: 500, error: String(error), status: "Internal Server Error" } })
      }
    })
  })
  const { url, port, stop } = await listen(server, options)
  return {
    url,
    port,
    projectId,
    token,
    events,
    received,
    duplicates: duplicateCopies,
    requests,
    insertIds: () => events.map((e) => e.properties["$insert_id"] as string),
    stats,
    fault: (fault, faultOptions) => {
      const count = faultOptions?.count ?? 1
      schedule.script(fault, count)
    },
    clearFaults: schedule.clear,
    stop
  }
}

/** The receiver as a scoped resource: stopped when the scope closes. */
export const mixpanelReceiver = (options: MixpanelReceiverOptions = {}): Effect.Effect<MixpanelReceiver, never, Scope.Scope> =>
  scopedReceiver(() => startMixpanelReceiver(options))
