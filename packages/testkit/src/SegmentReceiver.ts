import { randomUUID } from "node:crypto"
import * as http from "node:http"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { faultSchedule, type SeededFaults } from "./receivers/Faults.js"
import { readBody } from "./receivers/HttpBody.js"
import { listen, scopedReceiver } from "./receivers/Listen.js"
import { countedReplies } from "./receivers/Replies.js"

/** A fault the receiver plays instead of answering normally. */
export type SegmentFault =
  /** 429 Too Many Requests with this `Retry-After` (seconds or an HTTP date; omitted when undefined). */
  | { readonly kind: "429"; readonly retryAfter?: string | undefined }
  /** 503 Service Unavailable. */
  | { readonly kind: "503" }
  /** The connection is destroyed before the request is processed: nothing is recorded. */
  | { readonly kind: "drop" }
  /** The request is processed and recorded, then the connection is destroyed: the sender never learns it. */
  | { readonly kind: "dropAfterAccept" }
  /** The request is read and never answered; the connection stays open until the sender gives up or the receiver stops. */
  | { readonly kind: "hang" }
  /**
   * Answered with this status and body (default `{"error":"refused"}`) without looking at it, as a proxy, a
   * wrong endpoint or a disabled account does: nothing is recorded.
   */
  | { readonly kind: "status"; readonly status: number; readonly body?: string | undefined; readonly contentType?: string | undefined }
  /**
   * Answered with this status and a text body that echoes the request, as a misbehaving proxy or debug
   * endpoint does: its Authorization header as sent, the credentials it carries (decoded, JSON-quoted,
   * URL-encoded, base64url) and the request body. An empty batch is answered `emptyStatus` instead (default:
   * `status`), so that 400 to every event with 200 to an empty batch makes the sender dead-letter each event
   * with the echo as its reason. Nothing is recorded.
   */
  | { readonly kind: "echo"; readonly status: number; readonly emptyStatus?: number | undefined }

export interface SegmentReceiverOptions {
  readonly writeKey: string
  /** 0 (default): any free port. */
  readonly port?: number
  readonly host?: string
  /** Faults played on a share of requests, chosen with a seeded generator. */
  readonly faults?: SeededFaults<SegmentFault>
  /** A proxy's limit in front of the receiver: a request body over this many bytes is answered 413 and not looked at. */
  readonly maxRequestBytes?: number
  /** A rule that refuses an item with 400 (the reason), as Segment does for invalid messages. */
  readonly refuse?: (item: Record<string, unknown>) => string | undefined
  /** Keep every accepted message (default true); false keeps only messageIds and counts (benchmarks). */
  readonly keepMessages?: boolean
  /**
   * Whose `/v1/batch` to answer as (default `segment`). `rudderstack`: RudderStack's gateway, which takes
   * Segment's requests and answers them its own way (see `startSegmentReceiver`).
   */
  readonly flavor?: SegmentFlavor
}

export type SegmentFlavor = "segment" | "rudderstack"

export interface SegmentReceiverStats {
  readonly requests: number
  readonly acceptedRequests: number
  readonly statuses: Record<string, number>
  readonly faults: number
  /** Accepted messages, duplicates included. */
  readonly messages: number
  readonly unique: number
  readonly duplicates: number
  /** Duplicates whose payload differs from the first copy of the same messageId. */
  readonly conflictingDuplicates: number
  /** The same, by message type (`track`, `identify`, ...). */
  readonly conflictingDuplicatesByType: Record<string, number>
  /** Messages dropped because a request carried more than 2,500 (Segment answers 200 and drops them). */
  readonly droppedOverLimit: number
}

export interface SegmentReceiver {
  readonly url: string
  readonly port: number
  /** Every accepted message in arrival order, duplicates included (empty when keepMessages is false). */
  readonly messages: ReadonlyArray<Record<string, unknown>>
  /** The messageIds of accepted messages in arrival order, duplicates included; optionally of one type. */
  readonly messageIds: (type?: string) => ReadonlyArray<string>
  readonly stats: () => SegmentReceiverStats
  /** Faults played on the next requests, in order, before any random ones. */
  readonly enqueueFaults: (...faults: ReadonlyArray<SegmentFault>) => void
  /** The write key requests must carry from now on. */
  readonly setWriteKey: (key: string) => void
  readonly stop: () => Promise<void>
}

export const SEGMENT_MAX_REQUEST_BYTES = 500 * 1024
export const SEGMENT_MAX_EVENT_BYTES = 32 * 1024
export const SEGMENT_MAX_EVENTS_PER_REQUEST = 2_500
/** RudderStack's `gateway.maxReqSizeInKB` default, 4000 KB: a larger body is answered 413. */
export const RUDDERSTACK_MAX_REQUEST_BYTES = 4_000 * 1024

/** How a flavor answers: its limits and rules, and the message of each refusal. */
interface Flavor {
  /** The body of an answer: of a success when `message` is undefined, else of that error. */
  readonly body: (message: string | undefined) => { readonly text: string; readonly contentType: string }
  /**
   * The write key is read from the Basic header alone (its user), before the body is looked at; else after
   * the size and JSON checks, as `key:` in the header or `writeKey` in the body.
   */
  readonly keyFromHeaderFirst: boolean
  readonly maxRequestBytes: number
  readonly overRequestLimit: number
  /** Per message; undefined: no such limit. */
  readonly maxEventBytes: number | undefined
  /** More messages than this are answered 200 and dropped; undefined: no such rule. */
  readonly maxEventsPerRequest: number | undefined
  /** Whether a message needs a known `type`. */
  readonly needsType: boolean
  /** Whether a 429 fault carries its `retryAfter`. */
  readonly retryAfter: boolean
  readonly says: {
    readonly noWriteKey: string
    readonly wrongWriteKey: string
    readonly tooLarge: (bytes: number) => string
    readonly invalidJson: string
    readonly notAnObject: string
    readonly notAnArray: string
    /** An empty batch's refusal; undefined: an empty batch is taken. */
    readonly emptyBatch: string | undefined
    readonly itemNotAnObject: (i: number) => string
    readonly itemTooLarge: (i: number, bytes: number) => string
    readonly noType: (i: number) => string
    readonly noUser: (i: number) => string
    /** A message without messageId; undefined: it gets a random UUID, as RudderStack gives it. */
    readonly noMessageId: ((i: number) => string) | undefined
    readonly refused: (i: number, reason: string) => string
    readonly notFound: string
    readonly rateLimited: string
    readonly unavailable: string
    readonly overProxyLimit: (bytes: number, max: number) => string
  }
}

const flavors: Record<SegmentFlavor, Flavor> = {
  segment: {
    body: (message) => ({ text: JSON.stringify(message === undefined ? { success: true } : { error: message }), contentType: "application/json" }),
    keyFromHeaderFirst: false,
    maxRequestBytes: SEGMENT_MAX_REQUEST_BYTES,
    overRequestLimit: 400,
    maxEventBytes: SEGMENT_MAX_EVENT_BYTES,
    maxEventsPerRequest: SEGMENT_MAX_EVENTS_PER_REQUEST,
    needsType: true,
    retryAfter: true,
    says: {
      noWriteKey: "invalid write key",
      wrongWriteKey: "invalid write key",
      tooLarge: (bytes) => `request of ${bytes} bytes is over 500 KB`,
      invalidJson: "invalid JSON",
      notAnObject: "the body is not an object",
      notAnArray: "batch is not an array",
      emptyBatch: undefined,
      itemNotAnObject: (i) => `batch[${i}] is not an object`,
      itemTooLarge: (i, bytes) => `batch[${i}] is ${bytes} bytes, over 32 KB`,
      noType: (i) => `batch[${i}] has no valid type`,
      noUser: (i) => `batch[${i}] has neither userId nor anonymousId`,
      noMessageId: (i) => `batch[${i}] has no messageId`,
      refused: (i, reason) => `batch[${i}]: ${reason}`,
      notFound: "not found",
      rateLimited: "rate limited",
      unavailable: "service unavailable",
      overProxyLimit: (bytes, max) => `request of ${bytes} bytes is over the proxy's ${max}`
    }
  },
  // rudder-server's gateway (gateway/response/response.go, gateway/handle.go): "OK", and errors through
  // Go's http.Error, the message and a newline as text/plain. One bad message refuses the whole request.
  rudderstack: {
    body: (message) => ({ text: message === undefined ? "OK" : `${message}\n`, contentType: "text/plain; charset=utf-8" }),
    keyFromHeaderFirst: true,
    maxRequestBytes: RUDDERSTACK_MAX_REQUEST_BYTES,
    overRequestLimit: 413,
    maxEventBytes: undefined,
    maxEventsPerRequest: undefined,
    needsType: false,
    retryAfter: false,
    says: {
      noWriteKey: "Failed to read writeKey from header",
      wrongWriteKey: "Invalid Write Key",
      tooLarge: () => "Request size exceeds max limit",
      invalidJson: "Invalid JSON",
      notAnObject: "Invalid JSON",
      notAnArray: "Empty batch payload",
      emptyBatch: "Empty batch payload",
      itemNotAnObject: () => "Event is not a valid rudder event",
      // Never said: no per-message limit, no type rule (maxEventBytes, needsType).
      itemTooLarge: () => "Request size exceeds max limit",
      noType: () => "Event is not a valid rudder event",
      noUser: () => "Request neither has anonymousId nor userId",
      noMessageId: undefined,
      refused: (_, reason) => reason,
      notFound: "404 page not found",
      rateLimited: "Max Requests Limit reached",
      unavailable: "Service unavailable",
      overProxyLimit: () => "Request size exceeds max limit"
    }
  }
}

const isNonEmptyString = (value: unknown): value is string => typeof value === "string" && value !== ""
const types = new Set(["track", "identify", "page", "screen", "group", "alias"])

/**
 * A local stand-in for Segment's `/v1/batch` that enforces the documented contract: HTTP Basic auth with
 * the write key (or `writeKey` in the body) else 401, JSON, at most 500 KB per request and 32 KB per
 * message else 400, every message with `type`, `userId` or `anonymousId`, and `messageId` else 400; more
 * than 2,500 messages are answered 200 and dropped, as Segment does. It plays scripted faults (429, 503,
 * dropped connections, a request never answered, any status with any body) and counts unique messageIds
 * and duplicates. `GET /stats` returns the counters as JSON.
 *
 * `flavor: "rudderstack"` answers as RudderStack's gateway does instead (its `/v1/batch` takes Segment's
 * requests): text/plain bodies (200 `OK`; errors as Go's `http.Error`, the message and a newline); the
 * write key from the Basic header only, checked before anything else (401 `Failed to read writeKey from
 * header` without one, `Invalid Write Key` for a wrong one); a body over 4,096,000 bytes answered 413
 * `Request size exceeds max limit`; 400 `Invalid JSON`, `Empty batch payload` (an empty batch),
 * `Event is not a valid rudder event` (an item not an object) and `Request neither has anonymousId nor
 * userId`, each refusing the whole request; a missing `messageId` filled with a random UUID; no 32 KB
 * per-message rule, no 2,500-message drop; `refuse` reasons sent as they are; the `429` fault answered
 * `Max Requests Limit reached` without `Retry-After`, `503` as `Service unavailable`.
 */
export const startSegmentReceiver = async (options: SegmentReceiverOptions): Promise<SegmentReceiver> => {
  let writeKey = options.writeKey
  const flavor = flavors[options.flavor ?? "segment"]
  const says = flavor.says
  const keep = options.keepMessages ?? true
  const schedule = faultSchedule(options.faults)
  const replies = countedReplies()
  const messages: Array<Record<string, unknown>> = []
  const ids: Array<string> = []
  const typesOf: Array<string> = []
  const firstCopy = new Map<string, string>()
  let requests = 0
  let acceptedRequests = 0
  let duplicates = 0
  let conflictingDuplicates = 0
  const conflictingDuplicatesByType: Record<string, number> = {}
  let droppedOverLimit = 0

  const stats = (): SegmentReceiverStats => ({
    requests,
    acceptedRequests,
    statuses: replies.statuses(),
    faults: schedule.played(),
    messages: ids.length,
    unique: firstCopy.size,
    duplicates,
    conflictingDuplicates,
    conflictingDuplicatesByType: { ...conflictingDuplicatesByType },
    droppedOverLimit
  })

  const answer = replies.sendJson

  /** An answer in the flavor's form: a success when `message` is undefined, else the error. */
  const reply = (res: http.ServerResponse, status: number, message?: string, headers: Record<string, string> = {}) => {
    const { text, contentType } = flavor.body(message)
    replies.send(res, status, text, contentType, headers)
  }

  /** Why the request's write key is refused (401), or undefined. `body`: the parsed body (Segment's flavor only). */
  const unauthorized = (req: http.IncomingMessage, body?: Record<string, unknown>): string | undefined => {
    const header = req.headers.authorization
    if (header !== undefined && header.startsWith("Basic ")) {
      const credentials = Buffer.from(header.slice(6), "base64").toString("utf8")
      if (!flavor.keyFromHeaderFirst) return credentials === `${writeKey}:` ? undefined : says.wrongWriteKey
      // RudderStack reads the user of the credentials, whatever the password.
      const user = credentials.split(":")[0]!
      return user === "" ? says.noWriteKey : user === writeKey ? undefined : says.wrongWriteKey
    }
    // Segment also takes the key as `writeKey` in the body of a request without an Authorization header.
    return header === undefined && body !== undefined && body["writeKey"] === writeKey ? undefined : says.noWriteKey
  }

  /** Records the messages; returns a refusal (its status and message) instead when the request breaks the contract. */
  const accept = (req: http.IncomingMessage, raw: Buffer): { status: number; message?: string } => {
    const refusal = (message: string, status = 400) => ({ status, message })
    if (flavor.keyFromHeaderFirst) {
      const denied = unauthorized(req, undefined)
      if (denied !== undefined) return refusal(denied, 401)
    }
    if (raw.length > flavor.maxRequestBytes) return refusal(says.tooLarge(raw.length), flavor.overRequestLimit)
    let body: unknown
    try {
      body = JSON.parse(raw.toString("utf8"))
    } catch {
      return refusal(says.invalidJson)
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) return refusal(says.notAnObject)
    const record = body as Record<string, unknown>
    if (!flavor.keyFromHeaderFirst) {
      const denied = unauthorized(req, record)
      if (denied !== undefined) return refusal(denied, 401)
    }
    const batch = record["batch"]
    if (!Array.isArray(batch)) return refusal(says.notAnArray)
    if (batch.length === 0 && says.emptyBatch !== undefined) return refusal(says.emptyBatch)
    for (const [i, item] of batch.entries()) {
      if (typeof item !== "object" || item === null) return refusal(says.itemNotAnObject(i))
      const message = item as Record<string, unknown>
      if (flavor.maxEventBytes !== undefined) {
        const bytes = Buffer.byteLength(JSON.stringify(message))
        if (bytes > flavor.maxEventBytes) return refusal(says.itemTooLarge(i, bytes))
      }
      if (flavor.needsType && (!isNonEmptyString(message["type"]) || !types.has(message["type"]))) return refusal(says.noType(i))
      if (!isNonEmptyString(message["userId"]) && !isNonEmptyString(message["anonymousId"])) return refusal(says.noUser(i))
      if (!isNonEmptyString(message["messageId"]) && says.noMessageId !== undefined) return refusal(says.noMessageId(i))
      const refused = options.refuse?.(message)
      if (refused !== undefined) return refusal(says.refused(i, refused))
    }
    if (flavor.maxEventsPerRequest !== undefined && batch.length > flavor.maxEventsPerRequest) {
      droppedOverLimit += batch.length
      return { status: 200 }
    }
    for (const item of batch as Array<Record<string, unknown>>) {
      if (!isNonEmptyString(item["messageId"])) item["messageId"] = randomUUID()
      const id = item["messageId"] as string
      const json = JSON.stringify(item)
      const first = firstCopy.get(id)
      if (first === undefined) firstCopy.set(id, keep ? json : "")
      else {
        duplicates++
        if (keep && first !== json) {
          conflictingDuplicates++
          const type = item["type"] as string
          conflictingDuplicatesByType[type] = (conflictingDuplicatesByType[type] ?? 0) + 1
        }
      }
      ids.push(id)
      typesOf.push(item["type"] as string)
      if (keep) messages.push(item)
    }
    acceptedRequests++
    return { status: 200 }
  }

  const echo = (req: http.IncomingMessage, res: http.ServerResponse, fault: { readonly status: number; readonly emptyStatus?: number | undefined }, raw: string) => {
    const empty = /"batch":\[\]/.test(raw)
    const status = empty ? (fault.emptyStatus ?? fault.status) : fault.status
    if (status >= 200 && status < 300) return answer(res, status, { success: true })
    const header = req.headers.authorization ?? ""
    const credentials = header.startsWith("Basic ") ? Buffer.from(header.slice(6), "base64").toString("utf8") : header
    replies.send(
      res,
      status,
      [
        `refused; you sent Authorization: ${header}`,
        `credentials: ${credentials}`,
        `as JSON: ${JSON.stringify(credentials)}`,
        `URL-encoded: ${encodeURIComponent(credentials)}`,
        `base64url: ${Buffer.from(credentials).toString("base64url")}`,
        `body: ${raw}`
      ].join("\n"),
      "text/plain"
    )
  }

  const server = http.createServer((req, res) => {
    if (req.method === "GET" && req.url === "/stats") return answer(res, 200, stats())
    requests++
    readBody(req, (raw) => {
      if (req.method !== "POST" || (req.url ?? "").split("?")[0] !== "/v1/batch") return reply(res, 404, says.notFound)
      const fault = schedule.next()
      if (fault?.kind === "drop") return void req.socket.destroy()
      if (fault?.kind === "hang") return
      if (fault?.kind === "status") return replies.send(res, fault.status, fault.body ?? JSON.stringify({ error: "refused" }), fault.contentType ?? "application/json")
      if (fault?.kind === "echo") return echo(req, res, fault, raw.toString("utf8"))
      if (fault?.kind === "503") return reply(res, 503, says.unavailable)
      if (fault?.kind === "429") {
        return reply(res, 429, says.rateLimited, fault.retryAfter === undefined || !flavor.retryAfter ? {} : { "retry-after": fault.retryAfter })
      }
      if (options.maxRequestBytes !== undefined && raw.length > options.maxRequestBytes) {
        return reply(res, 413, says.overProxyLimit(raw.length, options.maxRequestBytes))
      }
      const result = accept(req, raw)
      if (fault?.kind === "dropAfterAccept") return void req.socket.destroy()
      reply(res, result.status, result.message)
    })
  })
  const { url, port, stop } = await listen(server, options)
  return {
    url,
    port,
    messages,
    messageIds: (type) => (type === undefined ? ids.slice() : ids.filter((_, i) => typesOf[i] === type)),
    stats,
    enqueueFaults: (...faults) => {
      for (const fault of faults) schedule.script(fault, 1)
    },
    setWriteKey: (key) => void (writeKey = key),
    stop
  }
}

/** The receiver as a scoped resource: stopped when the scope closes. */
export const segmentReceiver = (options: SegmentReceiverOptions): Effect.Effect<SegmentReceiver, never, Scope.Scope> =>
  scopedReceiver(() => startSegmentReceiver(options))
