import { createHash } from "node:crypto"
import * as http from "node:http"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { faultSchedule, type SeededFaults } from "../receivers/Faults.js"
import { gunzipWithin, mediaType, readBody } from "../receivers/HttpBody.js"
import { listen, scopedReceiver } from "../receivers/Listen.js"
import { countedReplies } from "../receivers/Replies.js"

/** The two ingestion routes: HTTP V2 and Batch. They share the event format and the answers. */
export type AmplitudeRoute = "/2/httpapi" | "/batch"

/** A fault the receiver plays instead of (or after) answering normally. */
export type AmplitudeFault =
  /**
   * 429 `Too many requests for some devices and users`. `throttled_events` lists the indexes of the throttled
   * events (all of them, or those of `users` / `devices`), `throttled_users` / `throttled_devices` map their
   * ids to a rate above `eps_threshold`. With `dailyQuota` the ids go to `exceeded_daily_quota_users` /
   * `exceeded_daily_quota_devices` instead (the Batch answer always carries both maps, empty or not). Nothing is
   * stored unless `ingestOthers`: then the valid events that are not throttled are stored. No `Retry-After`
   * header unless `retryAfter` is given (Amplitude documents none).
   */
  | {
      readonly kind: "429"
      readonly users?: ReadonlyArray<string> | undefined
      readonly devices?: ReadonlyArray<string> | undefined
      readonly dailyQuota?: boolean | undefined
      readonly ingestOthers?: boolean | undefined
      readonly retryAfter?: string | undefined
      readonly epsThreshold?: number | undefined
    }
  /** 503: nothing stored ("retrying a request with a 503 response doesn't risk duplicating events"). */
  | { readonly kind: "503" }
  /** 500 (or 502, 504) before anything is looked at: nothing stored. */
  | { readonly kind: "500"; readonly status?: 500 | 502 | 504 | undefined }
  /** The request is processed and its valid events stored, then answered 500 (502, 504): "may not have been accepted". */
  | { readonly kind: "500AfterIngest"; readonly status?: 500 | 502 | 504 | undefined }
  /** The connection is reset (TCP RST) once the request is read, before it is processed: nothing stored. */
  | { readonly kind: "reset" }
  /**
   * The request is processed and its events stored, then the connection is reset: the sender never learns it.
   * With `partial`, the status line, headers and half of the body are written first.
   */
  | { readonly kind: "resetAfterAccept"; readonly partial?: boolean | undefined }
  /** The request is read and never answered: nothing stored; the connection stays open until the sender gives up or the receiver stops. */
  | { readonly kind: "hang" }
  /** The request is processed and its events stored at once, and the answer is sent after `delayMs` (a sender with a shorter deadline retries). */
  | { readonly kind: "slow"; readonly delayMs: number }

export interface AmplitudeReceiverOptions {
  /** The project API key requests must carry as `api_key` in the body. */
  readonly apiKey: string
  /** 0 (default): any free port. */
  readonly port?: number
  readonly host?: string
  /** Faults played on a share of requests, chosen with a seeded generator (after any scripted with `fault`). */
  readonly faults?: SeededFaults<AmplitudeFault>
  /** Smaller limits than Amplitude's, for tests. Defaults: 2,000 events, 1,000,000 bytes (`/2/httpapi`), 20,000,000 (`/batch`). */
  readonly limits?: {
    readonly maxEvents?: number
    readonly httpApiBytes?: number
    readonly batchBytes?: number
  }
  /**
   * Whether the valid events of a request answered 400 (some events missing or invalid fields) are stored
   * (default true, as the reference reads Amplitude). false stores none of them, for proving a sender resends
   * the rest itself.
   */
  readonly ingestValidOn400?: boolean
  /** Not Amplitude's contract: `time` outside [min, max] ms is an invalid field (catches seconds or microseconds sent as ms). */
  readonly validTimeRange?: { readonly min: number; readonly max: number }
  /** Keep every stored event (default true); false keeps only the dedupe keys and the counts (benchmarks). */
  readonly keepEvents?: boolean
  /** The receiver's clock in ms (dedupe window, `server_upload_time`); default `Date.now`. */
  readonly now?: () => number
}

/** One request as the receiver saw it. `status` 0: no answer (reset, hang, or a slow answer not sent yet). */
export interface AmplitudeRequestRecord {
  readonly path: string
  readonly status: number
  /** The number of entries in `events` (0 when the body was not read as a request). */
  readonly events: number
  /** Events stored by this request (new, not duplicates). */
  readonly stored: number
  /** Valid events of this request already stored under the same dedupe key. */
  readonly duplicates: number
  /** The fault played, if any. */
  readonly fault?: AmplitudeFault["kind"]
  /** The request's `options` object as sent (`min_id_length`). */
  readonly options?: unknown
  readonly bytes: number
  readonly contentEncoding?: string
}

export interface AmplitudeReceiverStats {
  /** Requests to the ingestion routes (not `GET /stats`). */
  readonly requests: number
  readonly statuses: Record<string, number>
  readonly faults: number
  /** Events accepted, duplicates included (the sum of what was acknowledged as ingested or stored under a fault). */
  readonly received: number
  /** Events stored once (deduplicated). */
  readonly stored: number
  readonly duplicates: number
  /** Events refused by the per-event checks (listed in a 400's index maps). */
  readonly rejected: number
}

export interface AmplitudeReceiver {
  /** `http://host:port`; the routes are `${url}/2/httpapi` and `${url}/batch`. */
  readonly url: string
  readonly port: number
  readonly httpApiUrl: string
  readonly batchUrl: string
  /** Stored events in arrival order, deduplicated, as sent (empty when keepEvents is false). */
  readonly events: ReadonlyArray<Record<string, unknown>>
  /** Events accepted, duplicates included. */
  readonly received: number
  /** Accepted events not stored again because their dedupe key was seen within 7 days. */
  readonly duplicates: number
  /** How many copies of each insert_id were accepted, stored or as duplicates (empty when keepEvents is false). */
  readonly copiesByInsertId: ReadonlyMap<string, number>
  /** Every request to the ingestion routes, in arrival order. */
  readonly requests: ReadonlyArray<AmplitudeRequestRecord>
  readonly stats: () => AmplitudeReceiverStats
  /** Plays `fault` on the next `count` requests (default 1), after those already scripted and before any random ones. */
  readonly fault: (fault: AmplitudeFault, options?: { readonly count?: number }) => void
  /** Drops the scripted faults not played yet. */
  readonly clearFaults: () => void
  /** The API key requests must carry from now on. */
  readonly setApiKey: (key: string) => void
  readonly stop: () => Promise<void>
}

export const AMPLITUDE_MAX_EVENTS_PER_REQUEST = 2_000
/** "Keep request sizes under 1 MB": taken as 10^6 bytes, the stricter reading. */
export const AMPLITUDE_HTTPAPI_MAX_BYTES = 1_000_000
export const AMPLITUDE_BATCH_MAX_BYTES = 20_000_000
export const AMPLITUDE_DEFAULT_MIN_ID_LENGTH = 5
export const AMPLITUDE_DEDUPE_WINDOW_MS = 7 * 24 * 60 * 60 * 1000
/** IDs answered 400 (http-v2.md "Invalid IDs that result in a 400 error"), compared case-insensitively. `""` is listed both as empty and as two quote characters. */
export const AMPLITUDE_INVALID_IDS: ReadonlyArray<string> = [
  "anonymous",
  "nil",
  "none",
  "null",
  "n/a",
  "na",
  "undefined",
  "unknown",
  "",
  '""',
  "00000000-0000-0000-0000-000000000000",
  "{}",
  "lmy47d",
  "0",
  "-1"
]
const invalidIds = new Set(AMPLITUDE_INVALID_IDS)

type IndexMap = Record<string, Array<number>>
const addIndex = (map: IndexMap, field: string, index: number) => void (map[field] ??= []).push(index)
const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value)
const present = (value: unknown) => value !== undefined && value !== null

/** `user_id` / `device_id` as Amplitude reads it: a string, or a number taken as its decimal form; otherwise undefined (absent) or null (wrong type). */
const idOf = (value: unknown): string | undefined | null => {
  if (!present(value)) return undefined
  if (typeof value === "string") return value
  if (typeof value === "number" && Number.isFinite(value)) return String(value)
  return null
}

/** The dedupe key: (device_id, or a hash of user_id when there is none; insert_id). Undefined without insert_id. */
const dedupeKey = (event: Record<string, unknown>): string | undefined => {
  const insertId = event["insert_id"]
  if (typeof insertId !== "string" || insertId === "") return undefined
  const device = idOf(event["device_id"])
  const who = typeof device === "string" ? `d:${device}` : `u:${createHash("sha256").update(String(idOf(event["user_id"]))).digest("hex")}`
  return `${who}\u0000${insertId}`
}

interface Checked {
  readonly missing: IndexMap
  readonly invalid: IndexMap
  readonly idLengths: IndexMap
  readonly valid: ReadonlyArray<number>
}

const checkEvents = (
  events: ReadonlyArray<Record<string, unknown>>,
  minIdLength: number,
  timeRange: AmplitudeReceiverOptions["validTimeRange"]
): Checked => {
  const missing: IndexMap = {}
  const invalid: IndexMap = {}
  const idLengths: IndexMap = {}
  const valid: Array<number> = []
  events.forEach((event, i) => {
    let ok = true
    const eventType = event["event_type"]
    if (!present(eventType) || eventType === "") {
      addIndex(missing, "event_type", i)
      ok = false
    } else if (typeof eventType !== "string") {
      addIndex(invalid, "event_type", i)
      ok = false
    }
    let ids = 0
    for (const field of ["user_id", "device_id"] as const) {
      const id = idOf(event[field])
      if (id === undefined) continue
      ids++
      if (id === null || invalidIds.has(id.toLowerCase())) {
        addIndex(invalid, field, i)
        ok = false
      } else if (id.length < minIdLength) {
        addIndex(idLengths, field, i)
        ok = false
      }
    }
    if (ids === 0) {
      addIndex(missing, "device_id", i)
      ok = false
    }
    const time = event["time"]
    if (present(time)) {
      if (typeof time !== "number" || !Number.isSafeInteger(time) || (timeRange !== undefined && (time < timeRange.min || time > timeRange.max))) {
        addIndex(invalid, "time", i)
        ok = false
      }
    }
    const insertId = event["insert_id"]
    if (present(insertId) && typeof insertId !== "string") {
      addIndex(invalid, "insert_id", i)
      ok = false
    }
    for (const field of ["event_properties", "user_properties"] as const) {
      if (present(event[field]) && !isRecord(event[field])) {
        addIndex(invalid, field, i)
        ok = false
      }
    }
    if (ok) valid.push(i)
  })
  return { missing, invalid, idLengths, valid }
}

type Answer = { readonly status: number; readonly body: Record<string, unknown> & { readonly code: number } }

/** A request read as far as its events, or the answer that refuses it as a whole. */
type Parsed =
  | { readonly ok: true; readonly events: ReadonlyArray<Record<string, unknown>>; readonly options: unknown; readonly bytes: number }
  | { readonly ok: false; readonly answer: Answer; readonly events: number; readonly options?: unknown }

const refuse = (status: number, error: string, extra: Record<string, unknown> = {}): Answer => ({ status, body: { code: status, error, ...extra } })

/**
 * A local stand-in for Amplitude's `POST /2/httpapi` (HTTP V2) and `POST /batch` that enforces the documented
 * contract: `Content-Type: application/json`, a JSON body with `api_key` (missing: 400 `Request missing
 * required field`; wrong: 400 `Invalid API key: <key>`) and `events`; 413 above 2,000 events or above 1 MB
 * (`/2/httpapi`) / 20 MB (`/batch`); per event `event_type`, a `user_id` or `device_id` of at least
 * `options.min_id_length` (default 5) characters that is not on the invalid list, an integer `time`. A request
 * with refused events is answered 400 with the index maps (`events_with_missing_fields`,
 * `events_with_invalid_fields`, `events_with_invalid_id_lengths`) and its valid events are stored. Events are
 * deduplicated on (device_id, or a hash of user_id; insert_id) over 7 days. Every body carries `code`. It
 * plays scripted faults (429 with `throttled_events`, 503, 500 before or after storing, resets before or
 * after storing, a hang, a slow answer). `GET /stats` returns the counters as JSON.
 */
export const startAmplitudeReceiver = async (options: AmplitudeReceiverOptions): Promise<AmplitudeReceiver> => {
  let apiKey = options.apiKey
  const keep = options.keepEvents ?? true
  const now = options.now ?? Date.now
  const ingestValidOn400 = options.ingestValidOn400 ?? true
  const maxEvents = options.limits?.maxEvents ?? AMPLITUDE_MAX_EVENTS_PER_REQUEST
  const maxBytes = (route: AmplitudeRoute) =>
    route === "/batch" ? (options.limits?.batchBytes ?? AMPLITUDE_BATCH_MAX_BYTES) : (options.limits?.httpApiBytes ?? AMPLITUDE_HTTPAPI_MAX_BYTES)
  const schedule = faultSchedule(options.faults)
  const replies = countedReplies()
  const events: Array<Record<string, unknown>> = []
  const requests: Array<AmplitudeRequestRecord> = []
  const seen = new Map<string, number>()
  const copiesByInsertId = new Map<string, number>()
  const timers = new Set<NodeJS.Timeout>()
  let received = 0
  let stored = 0
  let duplicates = 0
  let rejected = 0

  const stats = (): AmplitudeReceiverStats => ({
    requests: requests.length,
    statuses: replies.statuses(),
    faults: schedule.played(),
    received,
    stored,
    duplicates,
    rejected
  })

  const send = (res: http.ServerResponse, answer: Answer, headers: Record<string, string> = {}) => replies.sendJson(res, answer.status, answer.body, headers)

  const parse = (req: http.IncomingMessage, route: AmplitudeRoute, raw: Buffer): Parsed => {
    if (mediaType(req) !== "application/json") return { ok: false, events: 0, answer: refuse(400, "Content-Type must be application/json") }
    let body = raw
    const encoding = (req.headers["content-encoding"] ?? "identity").toLowerCase()
    if (encoding === "gzip") {
      // No limit while inflating: the limit is checked on the whole decompressed body just below.
      const gunzipped = gunzipWithin(raw)
      if (!gunzipped.ok) return { ok: false, events: 0, answer: refuse(400, "Invalid JSON request body") }
      body = gunzipped.body
    } else if (encoding !== "identity") return { ok: false, events: 0, answer: refuse(400, `Unsupported Content-Encoding: ${encoding}`) }
    // Counted after decompression: the stricter reading of the newer page.
    if (body.length > maxBytes(route)) return { ok: false, events: 0, answer: refuse(413, "Payload too large") }
    if (body.length === 0) return { ok: false, events: 0, answer: refuse(400, "Missing request body") }
    let json: unknown
    try {
      json = JSON.parse(body.toString("utf8"))
    } catch {
      return { ok: false, events: 0, answer: refuse(400, "Invalid JSON request body") }
    }
    if (!isRecord(json)) return { ok: false, events: 0, answer: refuse(400, "Invalid JSON request body") }
    const list = json["events"]
    const count = Array.isArray(list) ? list.length : 0
    const requestOptions = json["options"]
    const key = json["api_key"]
    if (!present(key) || key === "") return { ok: false, events: count, options: requestOptions, answer: refuse(400, "Request missing required field", { missing_field: "api_key" }) }
    if (key !== apiKey) return { ok: false, events: count, options: requestOptions, answer: refuse(400, `Invalid API key: ${String(key)}`) }
    if (!Array.isArray(list) || list.length === 0) {
      return { ok: false, events: count, options: requestOptions, answer: refuse(400, "Request missing required field", { missing_field: "events" }) }
    }
    if (list.length > maxEvents) return { ok: false, events: count, options: requestOptions, answer: refuse(413, "Payload too large") }
    if (!list.every(isRecord)) return { ok: false, events: count, options: requestOptions, answer: refuse(400, "Invalid event JSON") }
    if (present(requestOptions) && !isRecord(requestOptions)) return { ok: false, events: count, options: requestOptions, answer: refuse(400, "Invalid JSON request body") }
    return { ok: true, events: list, options: requestOptions, bytes: body.length }
  }

  const minIdLengthOf = (requestOptions: unknown): number => {
    const value = isRecord(requestOptions) ? requestOptions["min_id_length"] : undefined
    return typeof value === "number" && Number.isSafeInteger(value) && value >= 0 ? value : AMPLITUDE_DEFAULT_MIN_ID_LENGTH
  }

  /** Stores the events at these indexes (deduplicated); returns how many were new and how many duplicates. */
  const store = (list: ReadonlyArray<Record<string, unknown>>, indexes: ReadonlyArray<number>) => {
    let fresh = 0
    let dups = 0
    const at = now()
    for (const i of indexes) {
      const event = list[i]!
      received++
      if (keep && typeof event["insert_id"] === "string") copiesByInsertId.set(event["insert_id"], (copiesByInsertId.get(event["insert_id"]) ?? 0) + 1)
      const key = dedupeKey(event)
      if (key !== undefined) {
        const first = seen.get(key)
        if (first !== undefined && at - first < AMPLITUDE_DEDUPE_WINDOW_MS) {
          duplicates++
          dups++
          continue
        }
        seen.set(key, at)
      }
      stored++
      fresh++
      if (keep) events.push(event)
    }
    return { fresh, dups }
  }

  /** The normal answer to a parsed request, storing what Amplitude would store. */
  const ingest = (parsed: Extract<Parsed, { ok: true }>, skip: ReadonlySet<number> = new Set()) => {
    const checked = checkEvents(parsed.events, minIdLengthOf(parsed.options), options.validTimeRange)
    const refused = parsed.events.length - checked.valid.length
    rejected += refused
    const take = refused === 0 || ingestValidOn400 ? checked.valid.filter((i) => !skip.has(i)) : []
    const { fresh, dups } = store(parsed.events, take)
    let answer: Answer
    if (refused === 0) {
      answer = {
        status: 200,
        body: { code: 200, events_ingested: checked.valid.length, payload_size_bytes: parsed.bytes, server_upload_time: now() }
      }
    } else {
      const error =
        Object.keys(checked.invalid).length > 0
          ? "Invalid field values on some events"
          : Object.keys(checked.idLengths).length > 0
            ? "Invalid id length for user_id or device_id"
            : "Request missing required field"
      const body: Record<string, unknown> & { code: number } = { code: 400, error }
      if (Object.keys(checked.missing).length > 0) body["events_with_missing_fields"] = checked.missing
      if (Object.keys(checked.invalid).length > 0) body["events_with_invalid_fields"] = checked.invalid
      if (Object.keys(checked.idLengths).length > 0) body["events_with_invalid_id_lengths"] = checked.idLengths
      answer = { status: 400, body }
    }
    return { answer, fresh, dups }
  }

  const throttle = (route: AmplitudeRoute, fault: Extract<AmplitudeFault, { kind: "429" }>, list: ReadonlyArray<Record<string, unknown>>) => {
    const eps = fault.epsThreshold ?? (route === "/batch" ? 1_000 : 30)
    const users = fault.users === undefined ? undefined : new Set(fault.users)
    const devices = fault.devices === undefined ? undefined : new Set(fault.devices)
    const all = users === undefined && devices === undefined
    const throttledEvents: Array<number> = []
    const userMap: Record<string, number> = {}
    const deviceMap: Record<string, number> = {}
    list.forEach((event, i) => {
      const user = idOf(event["user_id"])
      const device = idOf(event["device_id"])
      const byUser = typeof user === "string" && (all || users?.has(user) === true)
      const byDevice = typeof device === "string" && (all || devices?.has(device) === true)
      if (!byUser && !byDevice) return
      throttledEvents.push(i)
      const rate = fault.dailyQuota === true ? 500_001 : eps + 1
      if (byUser) userMap[user] = rate
      if (byDevice) deviceMap[device] = rate
    })
    const body: Record<string, unknown> & { code: number } = {
      code: 429,
      error: "Too many requests for some devices and users",
      eps_threshold: eps,
      throttled_devices: fault.dailyQuota === true ? {} : deviceMap,
      throttled_users: fault.dailyQuota === true ? {} : userMap,
      throttled_events: throttledEvents
    }
    if (route === "/batch" || fault.dailyQuota === true) {
      body["exceeded_daily_quota_users"] = fault.dailyQuota === true ? userMap : {}
      body["exceeded_daily_quota_devices"] = fault.dailyQuota === true ? deviceMap : {}
    }
    return { answer: { status: 429, body } satisfies Answer, throttled: new Set(throttledEvents) }
  }

  const handle = (req: http.IncomingMessage, res: http.ServerResponse, path: string, raw: Buffer) => {
    const contentEncoding = req.headers["content-encoding"]
    /** Logs the request; returns its index in the log. */
    const log = (record: Omit<AmplitudeRequestRecord, "path" | "bytes">): number =>
      requests.push({ path, bytes: raw.length, ...(contentEncoding === undefined ? {} : { contentEncoding }), ...record }) - 1
    if (req.method !== "POST" || (path !== "/2/httpapi" && path !== "/batch")) {
      log({ status: 400, events: 0, stored: 0, duplicates: 0 })
      return send(res, refuse(400, "Invalid request path"))
    }
    const route: AmplitudeRoute = path
    const fault = schedule.next()
    const tag = fault === undefined ? {} : { fault: fault.kind }
    if (fault?.kind === "reset") {
      log({ status: 0, events: 0, stored: 0, duplicates: 0, ...tag })
      return void req.socket.resetAndDestroy()
    }
    if (fault?.kind === "hang") return void log({ status: 0, events: 0, stored: 0, duplicates: 0, ...tag })
    if (fault?.kind === "503" || fault?.kind === "500") {
      const status = fault.kind === "503" ? 503 : (fault.status ?? 500)
      log({ status, events: 0, stored: 0, duplicates: 0, ...tag })
      return send(res, refuse(status, fault.kind === "503" ? "Service Unavailable" : "Internal Server Error"))
    }
    const parsed = parse(req, route, raw)
    const seenOptions = parsed.options === undefined ? {} : { options: parsed.options }
    if (!parsed.ok) {
      log({ status: parsed.answer.status, events: parsed.events, stored: 0, duplicates: 0, ...tag, ...seenOptions })
      return send(res, parsed.answer)
    }
    if (fault?.kind === "429") {
      const { answer, throttled } = throttle(route, fault, parsed.events)
      const { fresh, dups } = fault.ingestOthers === true ? ingest(parsed, throttled) : { fresh: 0, dups: 0 }
      log({ status: 429, events: parsed.events.length, stored: fresh, duplicates: dups, ...tag, ...seenOptions })
      return send(res, answer, fault.retryAfter === undefined ? {} : { "retry-after": fault.retryAfter })
    }
    const { answer, fresh, dups } = ingest(parsed)
    const record = { events: parsed.events.length, stored: fresh, duplicates: dups, ...tag, ...seenOptions }
    if (fault?.kind === "500AfterIngest") {
      const status = fault.status ?? 500
      log({ status, ...record })
      return send(res, refuse(status, "Internal Server Error"))
    }
    if (fault?.kind === "resetAfterAccept") {
      log({ status: 0, ...record })
      if (fault.partial !== true) return void req.socket.resetAndDestroy()
      const text = JSON.stringify(answer.body)
      res.writeHead(answer.status, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)) })
      return void res.write(text.slice(0, Math.floor(text.length / 2)), () => req.socket.resetAndDestroy())
    }
    if (fault?.kind === "slow") {
      const entry = log({ status: 0, ...record })
      const timer = setTimeout(() => {
        timers.delete(timer)
        requests[entry] = { ...requests[entry]!, status: answer.status }
        if (!res.destroyed) send(res, answer)
      }, fault.delayMs)
      timers.add(timer)
      return
    }
    log({ status: answer.status, ...record })
    send(res, answer)
  }

  const server = http.createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0]!
    if (req.method === "GET" && path === "/stats") return send(res, { status: 200, body: { code: 200, ...stats() } })
    readBody(req, (raw) => handle(req, res, path, raw))
  })
  const listening = await listen(server, options)
  const { url, port } = listening
  return {
    url,
    port,
    httpApiUrl: `${url}/2/httpapi`,
    batchUrl: `${url}/batch`,
    events,
    get received() {
      return received
    },
    get duplicates() {
      return duplicates
    },
    copiesByInsertId,
    requests,
    stats,
    fault: (fault, faultOptions) => {
      const count = faultOptions?.count ?? 1
      if (!Number.isInteger(count) || count < 0) throw new RangeError(`count must be a non-negative integer, got ${count}`)
      schedule.script(fault, count)
    },
    clearFaults: schedule.clear,
    setApiKey: (key) => void (apiKey = key),
    stop: () => {
      // Slow answers not sent yet would otherwise fire on closed sockets after the stop.
      for (const timer of timers) clearTimeout(timer)
      timers.clear()
      return listening.stop()
    }
  }
}

/** The receiver as a scoped resource: stopped when the scope closes. */
export const amplitudeReceiver = (options: AmplitudeReceiverOptions): Effect.Effect<AmplitudeReceiver, never, Scope.Scope> =>
  scopedReceiver(() => startAmplitudeReceiver(options))
