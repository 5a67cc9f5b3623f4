import { promisify } from "node:util"
import * as zlib from "node:zlib"
import {
  batchPlans,
  type HttpAnswer,
  type RejectedEvent,
  Secrets,
  type Sink,
  type SinkBatch,
  SinkError,
  accepted,
  answerExcerpt,
  type SerializedEvent,
  serializeEvents,
  configSecretForms,
  defineSink,
  parseRetryAfter,
  postForAnswer,
  sendPending
} from "@featbit-export/core"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { MIXPANEL_MAPPABLE, eventFields, mappedNames } from "./mapped.js"
import { MIXPANEL_LIMITS, MixpanelSinkConfig, configIssues, resolveEndpoint } from "./MixpanelSinkConfig.js"
import { render, renderEvent } from "./render.js"

const PLUGIN = "mixpanel"

/** zlib level of request bodies: JSON of events shrinks about tenfold at level 1 already, at a fraction of the CPU of 6. */
export const GZIP_LEVEL = 1

const gzip = promisify(zlib.gzip)

type Item = SerializedEvent

/**
 * One `/import` request of a batch, remembered across the engine's retries of that batch: a retry sends only
 * the requests not yet acknowledged, with the same bytes.
 */
interface Request {
  readonly items: ReadonlyArray<Item>
  readonly body: string
  /** The gzipped body, made at the first send and reused by retries. */
  compressed: Buffer | undefined
  done: boolean
  rejected: ReadonlyArray<RejectedEvent>
}

/** How a batch is sent: its requests, and the events refused before sending (too large for any request). */
interface Plan {
  readonly requests: ReadonlyArray<Request>
  readonly rejected: ReadonlyArray<RejectedEvent>
}

type Answer = HttpAnswer

/** The bytes of a request body around its items (`[` and `]`). */
const ENVELOPE_BYTES = 2

const toRequest = (items: ReadonlyArray<Item>): Request => ({
  items,
  body: `[${items.map((item) => item.json).join(",")}]`,
  compressed: undefined,
  done: false,
  rejected: []
})

interface FailedRecord {
  readonly index: number | undefined
  readonly insertId: string | undefined
  readonly field: string
  readonly message: string
}

/** The `failed_records` of a strict 400, or undefined when the body has none (the request was refused as a whole). */
export const failedRecords = (text: string): ReadonlyArray<FailedRecord> | undefined => {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof body !== "object" || body === null) return undefined
  const records = (body as Record<string, unknown>)["failed_records"]
  if (!Array.isArray(records) || records.length === 0) return undefined
  return records.map((record) => {
    const r = (typeof record === "object" && record !== null ? record : {}) as Record<string, unknown>
    // The page names it `$insert_id`, the OpenAPI schema `insert_id` (protocols-round2.md 2.4): either is read.
    const insertId = r["$insert_id"] ?? r["insert_id"]
    return {
      index: typeof r["index"] === "number" && Number.isInteger(r["index"]) ? r["index"] : undefined,
      insertId: typeof insertId === "string" && insertId !== "" ? insertId : undefined,
      field: typeof r["field"] === "string" ? r["field"] : "record",
      message: typeof r["message"] === "string" ? r["message"] : "refused by Mixpanel's validation"
    }
  })
}

const isOk = (answer: Answer): boolean => answer.status >= 200 && answer.status < 300

/**
 * `type: mixpanel`: sends every event to Mixpanel's `POST /import?strict=1` with `$insert_id` derived from its
 * FeatBit id, so Mixpanel deduplicates re-sends; the events its validation refuses are dead-lettered with
 * its reason.
 */
export const MixpanelSink = defineSink({
  type: PLUGIN,
  description: "Mixpanel /import (strict=1, gzip): one event per FeatBit event, $insert_id from the FeatBit id, validation failures dead-lettered",
  config: MixpanelSinkConfig,
  configIssues,
  mappable: MIXPANEL_MAPPABLE,
  render: (config) => render(config),
  make: (config) =>
    Effect.sync(() => {
      const base = resolveEndpoint(config.endpoint)
      const query = new URLSearchParams({ strict: "1" })
      if (config.projectId !== undefined && config.projectId.trim() !== "") query.set("project_id", config.projectId.trim())
      const target = `${base}/import?${query.toString()}`
      const url = Secrets.redactUrl(target)
      const account = config.serviceAccount
      const credentials =
        account !== undefined
          ? `${account.username}:${Redacted.value(account.secret)}`
          : config.projectSecret !== undefined
            ? `${Redacted.value(config.projectSecret)}:`
            : undefined
      const authorization = credentials === undefined ? undefined : `Basic ${Buffer.from(credentials).toString("base64")}`
      const which = account !== undefined ? "the service account (sink.serviceAccount) and sink.projectId" : "sink.projectSecret"
      // Every secret of the config, and the Basic credentials as sent, in every form.
      const secrets = configSecretForms(config, credentials === undefined ? [] : [credentials])
      const said = (answer: Answer): string => answerExcerpt(answer.text, secrets)
      const maxEventBytes = Math.min(MIXPANEL_LIMITS.maxBytesPerEvent - 1, config.maxBytesPerRequest - ENVELOPE_BYTES)
      /** Batches with a failed request: which of their requests were acknowledged, so a retry sends only the rest. */
      const planned = batchPlans<Plan>()
      let warnedTooLarge = false
      /** Set once the endpoint took any request: a 413 is then about the request, not the endpoint. */
      let tookSomething = false
      /** Set once the endpoint refused even an empty request with 413: every write fails with it. */
      let refusedAll: SinkError | undefined

      const makePlan = ({ events, fields }: SinkBatch): Plan => {
        const { groups, rejected } = serializeEvents(events, {
          // Mapped values are serialized into the record like the sink's own, so the limits count them.
          render: (event) => {
            const mapped = eventFields(fields?.(event))
            return { json: JSON.stringify(renderEvent(config, event, mapped)), mapped }
          },
          tooLarge: (bytes, mapped) =>
            `its Mixpanel event is ${bytes} bytes of JSON${mapped === undefined ? "" : ` (with its ${mappedNames(mapped)} from sink.map)`}, over the limit of ${maxEventBytes} bytes per event (Mixpanel takes events under 1 MB, in requests of at most sink.maxBytesPerRequest = ${config.maxBytesPerRequest})`,
          maxEventBytes,
          maxEventsPerRequest: config.maxEventsPerRequest,
          maxBytesPerRequest: config.maxBytesPerRequest,
          envelopeBytes: ENVELOPE_BYTES
        })
        return { requests: groups.map(toRequest), rejected }
      }

      const to = { plugin: PLUGIN, target, url, timeout: config.requestTimeout, forms: secrets }
      const post = (request: Request): Effect.Effect<Answer, SinkError> =>
        postForAnswer(to, async () => {
          const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" }
          if (authorization !== undefined) headers["authorization"] = authorization
          if (!config.gzip) return { headers, body: request.body }
          request.compressed ??= await gzip(request.body, { level: GZIP_LEVEL })
          headers["content-encoding"] = "gzip"
          return { headers, body: request.compressed }
        })

      /** The error of an answer that is neither a success, nor a strict 400 listing events, nor a 413. */
      const failureOf = (answer: Answer): SinkError => {
        const { status } = answer
        const quoted = said(answer)
        const tail = quoted === "" ? "" : `: ${quoted}`
        if (status === 401 || status === 403) {
          return SinkError.fatal(
            PLUGIN,
            `Mixpanel refused the credentials (HTTP ${status} from ${url}${tail}): check ${which}, and that sink.endpoint is the project's region`
          )
        }
        if (status === 404) return SinkError.fatal(PLUGIN, `${url} does not exist (HTTP 404): check sink.endpoint`)
        if (status === 429) {
          return SinkError.transient(PLUGIN, `Mixpanel is rate limiting the project (HTTP 429 from ${url})`, { retryAfter: parseRetryAfter(answer.retryAfter) })
        }
        if (status === 408 || status >= 500) {
          return SinkError.transient(PLUGIN, `Mixpanel answered HTTP ${status} from ${url}${tail}`, { retryAfter: parseRetryAfter(answer.retryAfter) })
        }
        if (status === 400) {
          return SinkError.fatal(
            PLUGIN,
            `Mixpanel refused a whole request without naming an event (HTTP 400 from ${url}${tail}): check sink.endpoint and any proxy in front of it`
          )
        }
        return SinkError.fatal(PLUGIN, `Mixpanel answered HTTP ${status} from ${url}${tail}`)
      }

      /** The events of a strict 400, by `index` (checked against `$insert_id` when both are given), with `field: message`. */
      const refusedBy = (request: Request, records: ReadonlyArray<FailedRecord>): ReadonlyArray<RejectedEvent> => {
        const byInsertId = new Map<string, Item>()
        const insertIdAt = (item: Item): string => (JSON.parse(item.json) as { properties: { $insert_id: string } }).properties.$insert_id
        const find = (record: FailedRecord): Item | undefined => {
          const at = record.index === undefined ? undefined : request.items[record.index]
          if (at !== undefined && (record.insertId === undefined || insertIdAt(at) === record.insertId)) return at
          if (record.insertId === undefined) return at
          if (byInsertId.size === 0) for (const item of request.items) byInsertId.set(insertIdAt(item), item)
          return byInsertId.get(record.insertId) ?? at
        }
        const seen = new Set<Item>()
        const rejected: Array<RejectedEvent> = []
        for (const record of records) {
          const item = find(record)
          if (item === undefined || seen.has(item)) continue
          seen.add(item)
          rejected.push({ event: item.event, reason: `${record.field}: ${record.message}` })
        }
        return rejected
      }

      /** Sends one request; the events Mixpanel refused for good. A 413 splits it in halves (down to one event). */
      const send = (request: Request): Effect.Effect<ReadonlyArray<RejectedEvent>, SinkError> =>
        Effect.gen(function* () {
          if (refusedAll !== undefined) return yield* Effect.fail(refusedAll)
          const answer = yield* post(request)
          if (isOk(answer)) {
            tookSomething = true
            return []
          }
          if (answer.status === 400) {
            const records = failedRecords(answer.text)
            if (records !== undefined) {
              const rejected = refusedBy(request, records)
              if (rejected.length > 0) return rejected
            }
            return yield* Effect.fail(failureOf(answer))
          }
          if (answer.status !== 413) return yield* Effect.fail(failureOf(answer))
          const quoted = said(answer)
          if (!tookSomething) {
            // Asked once: an endpoint (or a proxy) that refuses an empty array too refuses everything, and
            // splitting would dead-letter every event one request at a time.
            const empty = yield* post(toRequest([]))
            if (isOk(empty)) tookSomething = true
            else {
              refusedAll ??= SinkError.fatal(
                PLUGIN,
                `${url} answers HTTP 413 to requests of events and HTTP ${empty.status} to an empty one${quoted === "" ? "" : ` (${quoted})`}, so the refusal is the endpoint's, not the events': check sink.endpoint and any proxy in front of it`
              )
              return yield* Effect.fail(refusedAll)
            }
          }
          if (request.items.length === 1) {
            return [
              {
                event: request.items[0]!.event,
                reason: `${url} refused the event alone as too large (HTTP 413${quoted === "" ? "" : `: ${quoted}`}); it is ${request.items[0]!.bytes} bytes of JSON`
              }
            ]
          }
          if (!warnedTooLarge) {
            warnedTooLarge = true
            yield* Effect.logWarning(
              `sink ${PLUGIN}: ${url} refused a request of ${Buffer.byteLength(request.body)} bytes (${request.items.length} events) with HTTP 413${quoted === "" ? "" : ` (${quoted})`}, so it is sent in halves: lower sink.maxBytesPerRequest (now ${config.maxBytesPerRequest}) to what the endpoint, or a proxy in front of it, accepts`
            )
          }
          const middle = Math.ceil(request.items.length / 2)
          const halves = [toRequest(request.items.slice(0, middle)), toRequest(request.items.slice(middle))]
          const rejected = yield* Effect.forEach(halves, send, { concurrency: 2 })
          return rejected.flat()
        })

      /** `send`, dropping the gzipped body once the request is acknowledged (a retry of the batch no longer sends it). */
      const sendOnce = (request: Request): Effect.Effect<ReadonlyArray<RejectedEvent>, SinkError> =>
        send(request).pipe(Effect.tap(() => Effect.sync(() => void (request.compressed = undefined))))

      const write: Sink["write"] = (batch) =>
        Effect.gen(function* () {
          if (batch.events.length === 0) return accepted
          return yield* planned(batch, Effect.sync(() => makePlan(batch)), (plan) =>
            Effect.map(sendPending(PLUGIN, plan.requests, sendOnce, config.concurrency), (sent) => {
              const rejected = [...plan.rejected, ...sent]
              return rejected.length === 0 ? accepted : { rejected }
            })
          )
        })

      /**
       * An authenticated `/import` of an empty array: no event is sent. A 200 proves the credentials, the
       * project and the region host; a 400 about the empty body still proves the credentials were taken
       * (Mixpanel answers 401 before it reads a body).
       */
      const check = Effect.gen(function* () {
        const answer = yield* post(toRequest([]))
        if (isOk(answer)) return [`${url} accepted an empty /import with ${which} (HTTP ${answer.status}); no event was sent`]
        if (answer.status === 400 && failedRecords(answer.text) === undefined) {
          return [`${url} took ${which} and refused only the empty body (HTTP 400: ${said(answer)}); no event was sent`]
        }
        return yield* Effect.fail(failureOf(answer))
      })

      const sink: Sink = { write, check }
      return sink
    })
})
