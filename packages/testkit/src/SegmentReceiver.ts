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
}

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

const isNonEmptyString = (value: unknown): value is string => typeof value === "string" && value !== ""
const types = new Set(["track", "identify", "page", "screen", "group", "alias"])

/**
 * A local stand-in for Segment's `/v1/batch` that enforces the documented contract: HTTP Basic auth with
 * the write key (or `writeKey` in the body) else 401, JSON, at most 500 KB per request and 32 KB per
 * message else 400, every message with `type`, `userId` or `anonymousId`, and `messageId` else 400; more
 * than 2,500 messages are answered 200 and dropped, as Segment does. It plays scripted faults (429, 503,
 * dropped connections, a request never answered, any status with any body) and counts unique messageIds
 * and duplicates. `GET /stats` returns the counters as JSON.
 */
export const startSegmentReceiver = async (options: SegmentReceiverOptions): Promise<SegmentReceiver> => {
  let writeKey = options.writeKey
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

  const authorized = (req: http.IncomingMessage, body: Record<string, unknown>): boolean => {
    const header = req.headers.authorization
    if (header !== undefined && header.startsWith("Basic ")) {
      return Buffer.from(header.slice(6), "base64").toString("utf8") === `${writeKey}:`
    }
    return header === undefined && body["writeKey"] === writeKey
  }

  /** Records the messages; returns a 400 reason instead when the request breaks the contract. */
  const accept = (req: http.IncomingMessage, raw: Buffer): { status: number; body: unknown } => {
    if (raw.length > SEGMENT_MAX_REQUEST_BYTES) return { status: 400, body: { error: `request of ${raw.length} bytes is over 500 KB` } }
    let body: unknown
    try {
      body = JSON.parse(raw.toString("utf8"))
    } catch {
      return { status: 400, body: { error: "invalid JSON" } }
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) return { status: 400, body: { error: "the body is not an object" } }
    const record = body as Record<string, unknown>
    if (!authorized(req, record)) return { status: 401, body: { error: "invalid write key" } }
    const batch = record["batch"]
    if (!Array.isArray(batch)) return { status: 400, body: { error: "batch is not an array" } }
    for (const [i, item] of batch.entries()) {
      if (typeof item !== "object" || item === null) return { status: 400, body: { error: `batch[${i}] is not an object` } }
      const message = item as Record<string, unknown>
      const bytes = Buffer.byteLength(JSON.stringify(message))
      if (bytes > SEGMENT_MAX_EVENT_BYTES) return { status: 400, body: { error: `batch[${i}] is ${bytes} bytes, over 32 KB` } }
      if (!isNonEmptyString(message["type"]) || !types.has(message["type"])) return { status: 400, body: { error: `batch[${i}] has no valid type` } }
      if (!isNonEmptyString(message["userId"]) && !isNonEmptyString(message["anonymousId"])) {
        return { status: 400, body: { error: `batch[${i}] has neither userId nor anonymousId` } }
      }
      if (!isNonEmptyString(message["messageId"])) return { status: 400, body: { error: `batch[${i}] has no messageId` } }
      const refused = options.refuse?.(message)
      if (refused !== undefined) return { status: 400, body: { error: `batch[${i}]: ${refused}` } }
    }
    if (batch.length > SEGMENT_MAX_EVENTS_PER_REQUEST) {
      droppedOverLimit += batch.length
      return { status: 200, body: { success: true } }
    }
    for (const item of batch as Array<Record<string, unknown>>) {
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
    return { status: 200, body: { success: true } }
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
      if (req.method !== "POST" || (req.url ?? "").split("?")[0] !== "/v1/batch") return answer(res, 404, { error: "not found" })
      const fault = schedule.next()
      if (fault?.kind === "drop") return void req.socket.destroy()
      if (fault?.kind === "hang") return
      if (fault?.kind === "status") return replies.send(res, fault.status, fault.body ?? JSON.stringify({ error: "refused" }), fault.contentType ?? "application/json")
      if (fault?.kind === "echo") return echo(req, res, fault, raw.toString("utf8"))
      if (fault?.kind === "503") return answer(res, 503, { error: "service unavailable" })
      if (fault?.kind === "429") return answer(res, 429, { error: "rate limited" }, fault.retryAfter === undefined ? {} : { "retry-after": fault.retryAfter })
      if (options.maxRequestBytes !== undefined && raw.length > options.maxRequestBytes) {
        return answer(res, 413, { error: `request of ${raw.length} bytes is over the proxy's ${options.maxRequestBytes}` })
      }
      const result = accept(req, raw)
      if (fault?.kind === "dropAfterAccept") return void req.socket.destroy()
      answer(res, result.status, result.body)
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
