// A local stand-in for PostHog's capture service (the Rust `capture` in PostHog/posthog), for testing a
// PostHog sink. What it enforces, and where each rule comes from:
//
// - Routes (rust/capture/src/router.rs): POST `/batch` and `/batch/` with a 20 MiB body limit, and
//   `/i/v0/e[/]`, `/e[/]`, `/capture[/]`, `/track[/]` with 2 MiB; over the limit Axum's DefaultBodyLimit
//   answers 413. `GET /`, `/_readiness` answer `capture`, `/_liveness` answers `ok`.
// - Decoding (v0_request.rs `RawRequest::from_bytes`): gunzip when the query says `compression=gzip` or
//   `gzip-js`, when `Content-Encoding` says gzip, or when the body starts with the gzip magic bytes.
// - The body is one of serde's untagged forms, tried in order: an array of events, a batch
//   `{api_key|token, historical_migration?, sent_at?, batch}`, one event, an "engage" object without an
//   event name (refused on these routes). A field of the wrong type, or a `uuid` that does not parse,
//   fails the whole parse: 400 `failed to parse request: ...`.
// - Then, for the whole request (there is no per-event outcome): no event -> 400 `request holds no
//   event`; the api key -> 401; any event with an empty name -> 400 `event submitted with an empty event
//   name`; any event without a distinct_id (top level, `$distinct_id`, or `properties.distinct_id`; null
//   and "" count as missing) -> 400 `event submitted without a distinct_id`. Nothing is stored then.
// - 200 `{"status":1}`. Errors are plain text (api.rs `(StatusCode, String)`), or, with
//   `errorFormat: "json"`, the `{status, code, error}` body and the 403/413 statuses a newer api.rs uses.
// - Stored rows follow ClickHouse's `sharded_events`: ReplacingMergeTree, ORDER BY (team, toDate(timestamp),
//   event, distinct_id, uuid) (posthog/models/event/sql.py). `rows` holds every insert (raw, as before a
//   merge); `mergedRows()` holds one per key, the last insert (as after a merge). The stored timestamp is
//   the one capture computes (common/types/src/timestamp.rs): corrected by `sent_at - now` when the batch
//   carries `sent_at`, `now - offset` with `offset`, the server's time when missing or unparsable, and the
//   server's time when more than 23 hours ahead. So a resent event with another `sent_at` can land on
//   another day and never merge.
import * as crypto from "node:crypto"
import * as http from "node:http"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { faultSchedule, type SeededFaults } from "../receivers/Faults.js"
import { gunzipWithin, readBody } from "../receivers/HttpBody.js"
import { listen, scopedReceiver } from "../receivers/Listen.js"
import { countedReplies, writeAnswer, writeJson } from "../receivers/Replies.js"

/** A fault the receiver plays instead of answering normally. */
export type PostHogFault =
  /**
   * 429 Too Many Requests, body `billing limit reached` (reason "billing", the default) or `rate limited`
   * (reason "rate"). PostHog sets no Retry-After; `retryAfter` adds one (seconds or an HTTP date).
   */
  | { readonly kind: "429"; readonly reason?: "billing" | "rate" | undefined; readonly retryAfter?: string | undefined }
  /** 503 `transient error, please retry`, what capture answers when Kafka refuses (RetryableSinkError). */
  | { readonly kind: "503" }
  /** The connection is destroyed once the body is read, before it is looked at: nothing is stored. */
  | { readonly kind: "reset" }
  /** The request is processed and its rows stored, then the connection is destroyed: the sender never learns it. */
  | { readonly kind: "resetAfterStore" }
  /** The request is read and never answered; the connection stays open until the sender gives up or the receiver stops. */
  | { readonly kind: "hang" }

export interface PostHogReceiverOptions {
  /** The project API key (`phc_...`) requests must carry. */
  readonly apiKey: string
  /** 0 (default): any free port. */
  readonly port?: number
  readonly host?: string
  /** Faults played on a share of requests, chosen with a seeded generator, after any queued with `fault`. */
  readonly faults?: SeededFaults<PostHogFault>
  /**
   * "text" (default): errors as plain text with the statuses of api.rs as the reference describes it (a bad
   * key 401, a too-large decoded payload 400). "json": `{"status","code","error"}` bodies with a newer
   * api.rs's statuses (no key 401, a key that is malformed or names no project 403, too large 413).
   */
  readonly errorFormat?: "text" | "json"
  /**
   * What a well-formed key other than `apiKey` gets. "reject" (default): 401 (403 with errorFormat "json")
   * `api_key does not resolve to a known project`. "accept": 200 and nothing stored, as a capture that
   * does not look keys up does (the events are dropped later, out of the sender's sight).
   */
  readonly unknownKey?: "reject" | "accept"
  /** Body limits in bytes, raw and decoded (defaults 20 MiB for `/batch`, 2 MiB for the single-event routes). */
  readonly maxBatchBodyBytes?: number
  readonly maxEventBodyBytes?: number
  /** Keep every row and request (default true); false keeps only the keys and counters (benchmarks). */
  readonly keepRows?: boolean
  /** The server's clock, in epoch milliseconds (default Date.now): `now` for timestamps and generated uuids. */
  readonly clock?: () => number
}

/** One event as stored: one row of `sharded_events` before merges. */
export interface PostHogRow {
  /** The index of the request in `requests`. */
  readonly request: number
  readonly event: string
  /** As capture extracts it: stringified when not a string, cut to 200 characters. */
  readonly distinctId: string
  /** Lower-case 8-4-4-4-12; a v7 made by the receiver when the event carried none. */
  readonly uuid: string
  readonly uuidGenerated: boolean
  /** The timestamp stored (UTC, microseconds), after capture's corrections. */
  readonly timestamp: string
  /** Which input set `timestamp`. */
  readonly timestampSource: "timestamp" | "sentAtSkew" | "offset" | "now"
  /** The `timestamp` field as sent, if any. */
  readonly sentTimestamp: string | undefined
  /** `toDate(timestamp)`, UTC, YYYY-MM-DD: part of the merge key. */
  readonly day: string
  /** As sent. */
  readonly properties: Record<string, unknown>
  /** The request's `historical_migration`. */
  readonly historicalMigration: boolean
  /** The event object as sent. */
  readonly raw: Record<string, unknown>
}

export interface PostHogRequestRecord {
  readonly index: number
  readonly method: string
  readonly path: string
  readonly query: Record<string, string>
  readonly contentEncoding: string | undefined
  readonly userAgent: string | undefined
  /** Body bytes as received (compressed when gzipped). */
  readonly bytes: number
  readonly gzip: boolean
  /** The key the body carried, if it got that far. */
  readonly apiKey: string | undefined
  /** `historical_migration` as the batch carried it (undefined when absent or not a batch). */
  readonly historicalMigration: boolean | undefined
  readonly sentAt: string | undefined
  /** Events in the body (0 when it did not parse). */
  readonly events: number
  readonly fault: PostHogFault["kind"] | undefined
  /** Undefined when the connection was reset or left hanging. */
  readonly status: number | undefined
  readonly response: string | undefined
  /** Rows stored from this request. */
  readonly stored: number
}

export interface PostHogReceiverStats {
  /** Requests to the capture routes. */
  readonly requests: number
  /** Requests answered 200 whose events were stored. */
  readonly acceptedRequests: number
  readonly statuses: Record<string, number>
  readonly faults: number
  /** Rows stored, duplicates included (ClickHouse before merges). */
  readonly rawRows: number
  /** Distinct (day, event, distinct_id, uuid) keys (ClickHouse after merges). */
  readonly mergedRows: number
  /** rawRows - mergedRows. */
  readonly duplicates: number
  /** Duplicates whose event differs from the copy stored before it under the same key (the merge keeps the last). */
  readonly conflictingDuplicates: number
  /** Distinct uuids: fewer than mergedRows when one uuid landed under several keys (another day, name or distinct_id). */
  readonly uniqueUuids: number
  /** Accepted requests with `historical_migration: true`, and their rows. */
  readonly historicalRequests: number
  readonly historicalRows: number
  /** Rows stored with a uuid the receiver made, because the event had none. */
  readonly generatedUuids: number
  /** Events answered 200 but not stored: a key naming no project, with unknownKey "accept". */
  readonly droppedUnknownKey: number
}

export interface PostHogReceiver {
  readonly url: string
  readonly port: number
  /** Every row stored, in arrival order, duplicates included (empty when keepRows is false). */
  readonly rows: ReadonlyArray<PostHogRow>
  /** One row per (day, event, distinct_id, uuid), the last stored, in order of first arrival. */
  readonly mergedRows: () => ReadonlyArray<PostHogRow>
  /** Every capture request in arrival order (empty when keepRows is false). */
  readonly requests: ReadonlyArray<PostHogRequestRecord>
  readonly stats: () => PostHogReceiverStats
  /** Plays this fault on the next `count` requests (default 1), after those already queued. */
  readonly fault: (fault: PostHogFault, options?: { readonly count?: number }) => void
  /** Drops the queued faults. */
  readonly clearFaults: () => void
  /** The key requests must carry from now on. */
  readonly setApiKey: (key: string) => void
  readonly stop: () => Promise<void>
}

export const POSTHOG_BATCH_BODY_BYTES = 20 * 1024 * 1024
export const POSTHOG_EVENT_BODY_BYTES = 2 * 1024 * 1024
export const POSTHOG_MAX_DISTINCT_ID_CHARS = 200

const batchRoutes = new Set(["/batch", "/batch/"])
const eventRoutes = new Set(["/i/v0/e", "/i/v0/e/", "/e", "/e/", "/capture", "/capture/", "/track", "/track/"])
const FUTURE_CUTOFF_MS = 23 * 3600 * 1000
const GZIP_MAGIC = [0x1f, 0x8b, 0x08] as const
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

// ---- errors: what capture answers --------------------------------------------------------------

type ErrorKind =
  | "decoding"
  | "parsing"
  | "hydration"
  | "emptyPayload"
  | "emptyBatch"
  | "emptyFiltered"
  | "missingEventName"
  | "missingDistinctId"
  | "tooBig"
  | "noToken"
  | "multipleTokens"
  | "invalidToken"
  | "unknownToken"
  | "billing"
  | "rateLimited"
  | "retryable"

interface CaptureError {
  readonly kind: ErrorKind
  readonly message: string
}

const fail = (kind: ErrorKind, message: string): CaptureError => ({ kind, message })

// Status and code per api.rs. "text" is the mapping the reference quotes; "json" a newer one (ErrorBody).
const textStatus: Record<ErrorKind, number> = {
  decoding: 400, parsing: 400, hydration: 400, emptyPayload: 400, emptyBatch: 400, emptyFiltered: 400,
  missingEventName: 400, missingDistinctId: 400, tooBig: 400,
  noToken: 401, multipleTokens: 401, invalidToken: 401, unknownToken: 401,
  billing: 429, rateLimited: 429, retryable: 503
}
const jsonStatus: Record<ErrorKind, number> = {
  ...textStatus,
  tooBig: 413, multipleTokens: 400, invalidToken: 403, unknownToken: 403
}
const jsonCode: Record<ErrorKind, string> = {
  decoding: "request_decoding_error", parsing: "request_parsing_error", hydration: "request_hydration_error",
  emptyPayload: "empty_payload", emptyBatch: "empty_batch", emptyFiltered: "empty_payload_filtered",
  missingEventName: "missing_event_name", missingDistinctId: "missing_distinct_id", tooBig: "payload_too_large",
  noToken: "ingest_key_required", multipleTokens: "unroutable_events", invalidToken: "ingest_key_unknown",
  unknownToken: "ingest_key_unknown", billing: "billing_limit", rateLimited: "rate_limited", retryable: "service_unavailable"
}

// ---- the body's shape, as serde would read it into RawRequest ----------------------------------

type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }
type JsonObject = { readonly [key: string]: Json }

const isObject = (value: Json | undefined): value is JsonObject => typeof value === "object" && value !== null && !Array.isArray(value)
const has = (object: JsonObject, key: string): boolean => Object.prototype.hasOwnProperty.call(object, key)

/** One field under several serde aliases: undefined when none is present, "duplicate" when two are. */
const aliased = (object: JsonObject, names: ReadonlyArray<string>): Json | undefined | "duplicate" => {
  const present = names.filter((name) => has(object, name))
  if (present.length > 1) return "duplicate"
  return present.length === 0 ? undefined : object[present[0]!]
}

const UUID_HEX = /^[0-9a-fA-F]{32}$/
/** What the `uuid` crate's `Uuid::parse_str` accepts: simple, hyphenated, braced and URN forms. Lower-case hyphenated, or undefined. */
export const parseUuid = (text: string): string | undefined => {
  let body = text
  if (body.startsWith("urn:uuid:")) body = body.slice(9)
  else if (body.startsWith("{") && body.endsWith("}")) body = body.slice(1, -1)
  let hex: string
  if (body.length === 36) {
    if (body[8] !== "-" || body[13] !== "-" || body[18] !== "-" || body[23] !== "-") return undefined
    hex = body.slice(0, 8) + body.slice(9, 13) + body.slice(14, 18) + body.slice(19, 23) + body.slice(24)
  } else if (body.length === 32 && body === text) hex = body
  else return undefined
  if (!UUID_HEX.test(hex)) return undefined
  const h = hex.toLowerCase()
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

interface RawEvent {
  readonly object: JsonObject
  readonly event: string | undefined
  readonly token: string | undefined
  readonly distinctId: Json | undefined
  readonly uuid: string | undefined
  readonly properties: JsonObject
  readonly timestamp: string | undefined
  readonly offset: number | undefined
}

const optionalOf = (value: Json | undefined, test: (value: Json) => boolean): boolean => value === undefined || value === null || test(value)

/** RawEvent (common/types/src/event.rs), or undefined when serde would refuse it. `needsEvent` false: RawEngageEvent. */
const readEvent = (value: Json | undefined, needsEvent: boolean): RawEvent | undefined => {
  if (!isObject(value)) return undefined
  const event = value["event"]
  if (needsEvent && typeof event !== "string") return undefined
  const token = aliased(value, ["token", "$token", "api_key"])
  const distinctId = aliased(value, ["distinct_id", "$distinct_id"])
  if (token === "duplicate" || distinctId === "duplicate") return undefined
  if (!optionalOf(token, (t) => typeof t === "string")) return undefined
  const uuidField = value["uuid"]
  let uuid: string | undefined
  if (typeof uuidField === "string" && uuidField !== "") {
    uuid = parseUuid(uuidField)
    if (uuid === undefined) return undefined
  } else if (!optionalOf(uuidField, (u) => u === "")) return undefined
  const properties = value["properties"]
  if (properties !== undefined && !isObject(properties)) return undefined
  const timestamp = value["timestamp"]
  if (!optionalOf(timestamp, (t) => typeof t === "string")) return undefined
  const offset = value["offset"]
  if (!optionalOf(offset, (o) => typeof o === "number" && Number.isSafeInteger(o))) return undefined
  if (!optionalOf(value["$set"], (s) => isObject(s)) || !optionalOf(value["$set_once"], (s) => isObject(s))) return undefined
  return {
    object: value,
    event: typeof event === "string" ? event : undefined,
    token: typeof token === "string" ? token : undefined,
    distinctId: distinctId ?? undefined,
    uuid,
    properties: properties ?? {},
    timestamp: typeof timestamp === "string" ? timestamp : undefined,
    offset: typeof offset === "number" ? offset : undefined
  }
}

type ParsedRequest =
  | { readonly form: "array" | "one"; readonly events: ReadonlyArray<RawEvent> }
  | {
      readonly form: "batch"
      readonly events: ReadonlyArray<RawEvent>
      readonly token: string
      readonly historicalMigration: boolean | undefined
      readonly sentAt: string | undefined
    }
  | { readonly form: "engage" }

const readBatch = (value: JsonObject): ParsedRequest | undefined => {
  const token = aliased(value, ["token", "api_key"])
  if (typeof token !== "string") return undefined
  const historical = value["historical_migration"]
  if (!optionalOf(historical, (h) => typeof h === "boolean")) return undefined
  const sentAt = value["sent_at"]
  if (!optionalOf(sentAt, (s) => typeof s === "string")) return undefined
  const batch = value["batch"]
  if (!Array.isArray(batch)) return undefined
  const events: Array<RawEvent> = []
  for (const item of batch as ReadonlyArray<Json>) {
    const event = readEvent(item, true)
    if (event === undefined) return undefined
    events.push(event)
  }
  return {
    form: "batch",
    events,
    token,
    historicalMigration: typeof historical === "boolean" ? historical : undefined,
    sentAt: typeof sentAt === "string" ? sentAt : undefined
  }
}

/** RawRequest, untagged: Array, then Batch, then One, then Engage. */
const readRequest = (value: Json): ParsedRequest | undefined => {
  if (Array.isArray(value)) {
    const events: Array<RawEvent> = []
    for (const item of value as ReadonlyArray<Json>) {
      const event = readEvent(item, true)
      if (event === undefined) return undefined
      events.push(event)
    }
    return { form: "array", events }
  }
  if (!isObject(value)) return undefined
  const batch = readBatch(value)
  if (batch !== undefined) return batch
  const one = readEvent(value, true)
  if (one !== undefined) return { form: "one", events: [one] }
  return readEvent(value, false) === undefined ? undefined : { form: "engage" }
}

/** serde_json's position suffix, at the end of the top-level value (where an untagged enum gives up). */
const endPosition = (text: string): string => {
  const trimmed = text.trimEnd()
  const lines = trimmed.split("\n")
  return `at line ${lines.length} column ${Buffer.byteLength(lines[lines.length - 1] ?? "")}`
}

// ---- tokens (token.rs validate_token, utils.rs extract_and_verify_token) ----------------------

const validateToken = (token: string): CaptureError | string => {
  const trimmed = token.trim()
  const invalid = (reason: string) => fail("invalidToken", `API key is not valid: ${reason}`)
  if (trimmed === "") return invalid("empty")
  if (trimmed.length > 64) return invalid("too_long")
  // eslint-disable-next-line no-control-regex
  if (!/^[\x00-\x7f]*$/.test(trimmed)) return invalid("not_ascii")
  if (trimmed.startsWith("phx_")) return invalid("personal_api_key")
  if (trimmed.includes("\0")) return invalid("null_byte")
  return trimmed
}

const eventToken = (event: RawEvent): string | undefined => {
  if (event.token !== undefined) return event.token
  const fromProperties = event.properties["token"]
  return typeof fromProperties === "string" ? fromProperties : undefined
}

/** The batch's key when it has one, else the events' own (`token`, `$token`, `api_key` or `properties.token`). */
const extractToken = (batchToken: string | undefined, events: ReadonlyArray<RawEvent>): CaptureError | string => {
  let token: string
  if (batchToken !== undefined) token = batchToken
  else if (events.length === 1) {
    const only = eventToken(events[0]!)
    if (only === undefined) return fail("noToken", "event submitted without an api_key")
    token = only
  } else {
    const tokens = new Set(events.map(eventToken).filter((t): t is string => t !== undefined))
    if (tokens.size === 0) return fail("noToken", "event submitted without an api_key")
    if (tokens.size > 1) return fail("multipleTokens", "batch submitted with inconsistent api_key values")
    token = [...tokens][0]!
  }
  return validateToken(token)
}

// ---- distinct_id (RawEvent::extract_distinct_id) -----------------------------------------------

/** serde_json's compact form with map keys sorted (its Map is a BTreeMap). */
const canonicalJson = (value: Json): string => {
  if (Array.isArray(value)) return `[${(value as ReadonlyArray<Json>).map(canonicalJson).join(",")}]`
  if (isObject(value)) {
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key]!)}`)
      .join(",")}}`
  }
  return JSON.stringify(value)
}

const extractDistinctId = (event: RawEvent): string | undefined => {
  let value: Json | undefined = event.distinctId
  if (value === undefined || value === null) value = event.properties["distinct_id"]
  if (value === undefined || value === null) return undefined
  const text = (typeof value === "string" ? value : canonicalJson(value)).replaceAll("\0", "\uFFFD")
  if (text === "") return undefined
  if (Buffer.byteLength(text) <= POSTHOG_MAX_DISTINCT_ID_CHARS) return text
  return Array.from(text).slice(0, POSTHOG_MAX_DISTINCT_ID_CHARS).join("")
}

// ---- timestamps (common/types/src/timestamp.rs) ------------------------------------------------

/** An instant in epoch milliseconds plus the microseconds past it (0-999). */
interface Instant {
  readonly ms: number
  readonly micros: number
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$/

/**
 * The formats capture reads: RFC 3339 and ISO 8601 with or without a zone (a missing zone is UTC), a date
 * alone, and epoch seconds or milliseconds as digits. Anything else is unparsable (capture then uses now).
 */
export const parsePostHogTimestamp = (text: string): Instant | undefined => {
  const trimmed = text.trim()
  if (/^\d{10}$/.test(trimmed)) return { ms: Number(trimmed) * 1000, micros: 0 }
  if (/^\d{13}$/.test(trimmed)) return { ms: Number(trimmed), micros: 0 }
  const m = ISO.exec(trimmed)
  if (m === null) return undefined
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((part) => Number(part ?? 0)) as [
    number, number, number, number, number, number
  ]
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined
  const fraction = (m[7] ?? "").padEnd(6, "0")
  let ms = Date.UTC(year, month - 1, day, hour, minute, second, Number(fraction.slice(0, 3)))
  if (new Date(Date.UTC(year, month - 1, day)).getUTCDate() !== day) return undefined
  if (m[9] !== undefined) {
    const offsetMinutes = Number(m[10]) * 60 + Number(m[11] ?? 0)
    ms -= (m[9] === "+" ? 1 : -1) * offsetMinutes * 60_000
  }
  return { ms, micros: Number(fraction.slice(3, 6)) }
}

const formatInstant = (instant: Instant): string =>
  `${new Date(instant.ms).toISOString().slice(0, 23)}${String(instant.micros).padStart(3, "0")}Z`

const effectiveTimestamp = (
  event: RawEvent,
  sentAt: Instant | undefined,
  now: number
): { readonly instant: Instant; readonly source: PostHogRow["timestampSource"] } => {
  const ignoreSentAt = event.properties["$ignore_sent_at"] === true
  let instant: Instant = { ms: now, micros: 0 }
  let source: PostHogRow["timestampSource"] = "now"
  const parsed = event.timestamp === undefined ? undefined : parsePostHogTimestamp(event.timestamp)
  if (parsed !== undefined) {
    if (sentAt !== undefined && !ignoreSentAt) {
      // skew = sent_at - now; timestamp - skew, at microseconds.
      const micros = (parsed.ms - sentAt.ms + now) * 1000 + parsed.micros - sentAt.micros
      instant = { ms: Math.floor(micros / 1000), micros: ((micros % 1000) + 1000) % 1000 }
      source = "sentAtSkew"
    } else {
      instant = parsed
      source = "timestamp"
    }
  }
  if (event.offset !== undefined) {
    instant = { ms: now - event.offset, micros: 0 }
    source = "offset"
  }
  if (instant.ms - now > FUTURE_CUTOFF_MS) instant = { ms: now, micros: 0 }
  const year = new Date(instant.ms).getUTCFullYear()
  if (!Number.isFinite(instant.ms) || year < 0 || year > 9999) instant = { ms: 0, micros: 0 }
  return { instant, source }
}

/** A version 7 uuid for `now`, as capture makes one for an event without a uuid. */
const uuidV7 = (now: number): string => {
  const bytes = crypto.randomBytes(16)
  bytes.writeUIntBE(now, 0, 6)
  bytes[6] = (bytes[6]! & 0x0f) | 0x70
  bytes[8] = (bytes[8]! & 0x3f) | 0x80
  const h = bytes.toString("hex")
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

// ---- the receiver ------------------------------------------------------------------------------

/**
 * Starts a local PostHog capture double on `options.port` (default any free port). See the head of this
 * file for the contract it enforces. `GET /stats` returns the counters as JSON.
 */
export const startPostHogReceiver = async (options: PostHogReceiverOptions): Promise<PostHogReceiver> => {
  let apiKey = options.apiKey
  const keep = options.keepRows ?? true
  const json = options.errorFormat === "json"
  const clock = options.clock ?? Date.now
  const schedule = faultSchedule(options.faults)
  const replies = countedReplies()
  const rows: Array<PostHogRow> = []
  const requests: Array<PostHogRequestRecord> = []
  /** key -> index in `rows` of the last copy (-1 when rows are not kept), and its content. */
  const merged = new Map<string, { last: number; content: string }>()
  const uuids = new Set<string>()
  let requestCount = 0
  let acceptedRequests = 0
  let rawRows = 0
  let conflictingDuplicates = 0
  let historicalRequests = 0
  let historicalRows = 0
  let generatedUuids = 0
  let droppedUnknownKey = 0

  const stats = (): PostHogReceiverStats => ({
    requests: requestCount,
    acceptedRequests,
    statuses: replies.statuses(),
    faults: schedule.played(),
    rawRows,
    mergedRows: merged.size,
    duplicates: rawRows - merged.size,
    conflictingDuplicates,
    uniqueUuids: uuids.size,
    historicalRequests,
    historicalRows,
    generatedUuids,
    droppedUnknownKey
  })

  const send = replies.send

  const errorBody = (error: CaptureError): { status: number; body: string; contentType: string } =>
    json
      ? {
          status: jsonStatus[error.kind],
          body: JSON.stringify({ status: jsonStatus[error.kind], code: jsonCode[error.kind], error: error.message }),
          contentType: "application/json"
        }
      : { status: textStatus[error.kind], body: error.message, contentType: "text/plain; charset=utf-8" }

  const OK = JSON.stringify({ status: 1 })

  interface Outcome {
    status: number
    body: string
    contentType: string
    apiKey?: string | undefined
    historicalMigration?: boolean | undefined
    sentAt?: string | undefined
    events: number
    stored: number
    gzip: boolean
  }

  /** Decodes, validates and stores one request, as capture's handler does; the whole request or nothing. */
  const handle = (req: http.IncomingMessage, query: URLSearchParams, raw: Buffer, limit: number, index: number): Outcome => {
    const refused = (error: CaptureError, extra: Partial<Outcome> = {}): Outcome => ({ ...errorBody(error), events: 0, stored: 0, gzip: false, ...extra })
    if (raw.length === 0) return refused(fail("emptyPayload", "request missing data payload"))
    const hint = (query.get("compression") ?? "").toLowerCase()
    const encoding = String(req.headers["content-encoding"] ?? "").toLowerCase()
    const gzip = hint === "gzip" || hint === "gzip-js" || encoding.includes("gzip") || GZIP_MAGIC.every((byte, i) => raw[i] === byte)
    let decoded: Buffer = raw
    if (gzip) {
      const gunzipped = gunzipWithin(raw, limit)
      if (!gunzipped.ok) {
        return gunzipped.tooLarge
          ? refused(fail("tooBig", json ? `maximum event size exceeded: Event or batch exceeded ${limit} during unzipping` : "maximum event size exceeded"), { gzip })
          : refused(fail("decoding", "failed to decode request: invalid GZIP data"), { gzip })
      }
      decoded = gunzipped.body
    }
    if (!gzip && decoded.length > limit) {
      return refused(fail("tooBig", json ? `maximum event size exceeded: Uncompressed payload size limit ${limit} exceeded: ${decoded.length}` : "maximum event size exceeded"))
    }
    let text: string
    try {
      text = utf8.decode(decoded)
    } catch {
      return refused(fail("decoding", gzip ? "failed to decode request: invalid gzip data" : "failed to decode request: invalid UTF8 in request payload"), { gzip })
    }
    let value: Json
    try {
      value = JSON.parse(text) as Json
    } catch (error) {
      return refused(fail("parsing", `failed to parse request: ${(error as Error).message}`), { gzip })
    }
    const parsed = readRequest(value)
    if (parsed === undefined) {
      return refused(fail("parsing", `failed to parse request: data did not match any variant of untagged enum RawRequest ${endPosition(text)}`), { gzip })
    }
    if (parsed.form === "engage") {
      return refused(fail("hydration", "failed to hydrate events from request: non-engage request missing event name attribute"), { gzip })
    }
    const batchInfo = parsed.form === "batch" ? { historicalMigration: parsed.historicalMigration, sentAt: parsed.sentAt, apiKey: parsed.token } : {}
    const base = { gzip, events: parsed.events.length, ...batchInfo }
    if (parsed.events.length === 0) return refused(fail("emptyBatch", "request holds no event"), base)
    const events = parsed.events.filter((event) => event.event !== "$performance_event")
    if (events.length === 0) return refused(fail("emptyFiltered", "payload empty after filtering invalid event types"), base)
    const token = extractToken(parsed.form === "batch" ? parsed.token : undefined, events)
    if (typeof token !== "string") return refused(token, base)
    const withKey = { ...base, apiKey: token }
    if (token !== apiKey.trim()) {
      if (options.unknownKey === "accept") {
        droppedUnknownKey += events.length
        return { status: 200, body: OK, contentType: "application/json", stored: 0, ...withKey }
      }
      return refused(fail("unknownToken", "api_key does not resolve to a known project"), withKey)
    }
    // Every event must pass before any is kept: capture's process_events stops at the first error.
    const now = clock()
    const sentAt = parsed.form === "batch" && parsed.sentAt !== undefined ? parsePostHogTimestamp(parsed.sentAt) : undefined
    const historical = parsed.form === "batch" && parsed.historicalMigration === true
    const ready: Array<PostHogRow> = []
    for (const event of events) {
      if (event.event === undefined || event.event === "") return refused(fail("missingEventName", "event submitted with an empty event name"), withKey)
      const distinctId = extractDistinctId(event)
      if (distinctId === undefined) return refused(fail("missingDistinctId", "event submitted without a distinct_id"), withKey)
      const { instant, source } = effectiveTimestamp(event, sentAt, now)
      const timestamp = formatInstant(instant)
      ready.push({
        request: index,
        event: event.event,
        distinctId,
        uuid: event.uuid ?? uuidV7(now),
        uuidGenerated: event.uuid === undefined,
        timestamp,
        timestampSource: source,
        sentTimestamp: event.timestamp,
        day: timestamp.slice(0, 10),
        properties: event.properties as Record<string, unknown>,
        historicalMigration: historical,
        raw: event.object as Record<string, unknown>
      })
    }
    for (const row of ready) {
      const key = JSON.stringify([row.day, row.event, row.distinctId, row.uuid])
      const content = keep ? JSON.stringify(row.raw) : ""
      const previous = merged.get(key)
      if (previous !== undefined && keep && previous.content !== content) conflictingDuplicates++
      merged.set(key, { last: keep ? rows.length : -1, content })
      uuids.add(row.uuid)
      if (row.uuidGenerated) generatedUuids++
      if (keep) rows.push(row)
      rawRows++
    }
    acceptedRequests++
    if (historical) {
      historicalRequests++
      historicalRows += ready.length
    }
    return { status: 200, body: OK, contentType: "application/json", stored: ready.length, ...withKey }
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://receiver")
    const path = url.pathname
    if (req.method === "GET" && path === "/stats") return writeJson(res, 200, stats())
    if (req.method === "GET" && (path === "/" || path === "/_readiness" || path === "/_liveness")) {
      return writeAnswer(res, 200, path === "/_liveness" ? "ok" : "capture", "text/plain; charset=utf-8")
    }
    const isBatch = batchRoutes.has(path)
    if (!isBatch && !eventRoutes.has(path)) {
      replies.count(404)
      res.writeHead(404)
      return void res.end()
    }
    if (req.method !== "POST") {
      replies.count(405)
      res.writeHead(405, { allow: "POST" })
      return void res.end()
    }
    const index = requestCount++
    const limit = isBatch ? (options.maxBatchBodyBytes ?? POSTHOG_BATCH_BODY_BYTES) : (options.maxEventBodyBytes ?? POSTHOG_EVENT_BODY_BYTES)
    // Past the limit the rest is read and dropped, so the sender gets the 413 rather than a broken pipe.
    readBody(req, (raw, received) => {
      const record = (entry: Partial<PostHogRequestRecord>) => {
        if (!keep) return
        requests.push({
          index,
          method: req.method ?? "",
          path,
          query: Object.fromEntries(url.searchParams),
          contentEncoding: req.headers["content-encoding"],
          userAgent: req.headers["user-agent"],
          bytes: received,
          gzip: false,
          apiKey: undefined,
          historicalMigration: undefined,
          sentAt: undefined,
          events: 0,
          fault: undefined,
          status: undefined,
          response: undefined,
          stored: 0,
          ...entry
        })
      }
      const fault = schedule.next()
      const kind = fault?.kind
      if (kind === "reset") {
        record({ fault: kind })
        return void req.socket.destroy()
      }
      if (kind === "hang") return record({ fault: kind })
      if (fault?.kind === "429" || fault?.kind === "503") {
        const error = fault.kind === "503" ? fail("retryable", "transient error, please retry") : fault.reason === "rate" ? fail("rateLimited", "rate limited") : fail("billing", "billing limit reached")
        const { status, body, contentType } = errorBody(error)
        record({ fault: fault.kind, status, response: body })
        return send(res, status, body, contentType, fault.kind === "429" && fault.retryAfter !== undefined ? { "retry-after": fault.retryAfter } : {})
      }
      if (received > limit) {
        // Axum's DefaultBodyLimit rejection (json mode: the newer capture's own size error).
        const body = json
          ? JSON.stringify({ status: 413, code: "payload_too_large", error: `maximum event size exceeded: request body of ${received} bytes is over ${limit}` })
          : "Failed to buffer the request body: length limit exceeded"
        record({ fault: kind, status: 413, response: body })
        return send(res, 413, body, json ? "application/json" : "text/plain; charset=utf-8")
      }
      const outcome = handle(req, url.searchParams, raw, limit, index)
      record({
        fault: kind,
        gzip: outcome.gzip,
        apiKey: outcome.apiKey,
        historicalMigration: outcome.historicalMigration,
        sentAt: outcome.sentAt,
        events: outcome.events,
        stored: outcome.stored,
        ...(kind === "resetAfterStore" ? {} : { status: outcome.status, response: outcome.body })
      })
      if (kind === "resetAfterStore") return void req.socket.destroy()
      send(res, outcome.status, outcome.body, outcome.contentType)
    }, limit)
  })
  const { host, port, stop } = await listen(server, options)
  return {
    // An IPv6 host in brackets, so the url can be used as it is.
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    port,
    rows,
    mergedRows: () => {
      if (!keep) return []
      // A Map keeps the order keys were first set in.
      return [...merged.values()].map(({ last }) => rows[last]!)
    },
    requests,
    stats,
    fault: (fault, faultOptions) => {
      const count = faultOptions?.count ?? 1
      if (!Number.isInteger(count) || count < 0) throw new RangeError(`fault count must be a whole number, got ${count}`)
      schedule.script(fault, count)
    },
    clearFaults: schedule.clear,
    setApiKey: (key) => void (apiKey = key),
    stop
  }
}

/** The receiver as a scoped resource: stopped when the scope closes. */
export const postHogReceiver = (options: PostHogReceiverOptions): Effect.Effect<PostHogReceiver, never, Scope.Scope> =>
  scopedReceiver(() => startPostHogReceiver(options))
