import { type ExportEvent, type RejectedEvent, type Sink, SinkError, accepted, defineSink } from "@featbit-export/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import { render, renderIdentify, renderTrack, userKeyOf } from "./render.js"
import { SEGMENT_LIMITS, SegmentSinkConfig, resolveEndpoint } from "./SegmentSinkConfig.js"

const PLUGIN = "segment"

/** One message of a request, already serialized (its bytes are what Segment's limits count). */
interface Item {
  readonly json: string
  readonly bytes: number
  /** The event of a track; undefined for an identify. */
  readonly event: ExportEvent | undefined
}

/** One `/v1/batch` request of a batch, remembered across the engine's retries of that batch. */
interface Request {
  readonly items: ReadonlyArray<Item>
  done: boolean
  rejected: ReadonlyArray<RejectedEvent>
}

/** How a batch is sent: its requests, and the events refused before sending (over 32 KB). */
interface Plan {
  readonly requests: ReadonlyArray<Request>
  readonly rejected: ReadonlyArray<RejectedEvent>
}

const bodyOf = (items: ReadonlyArray<Item>, sentAt: string): string =>
  `{"batch":[${items.map((item) => item.json).join(",")}],"sentAt":"${sentAt}"}`

/** The bytes of a request body around its items. */
const ENVELOPE_BYTES = Buffer.byteLength(bodyOf([], new Date(0).toISOString()))

/** `Retry-After`: seconds, or an HTTP date. */
export const parseRetryAfter = (header: string | null, now: number = Date.now()): Duration.Duration | undefined => {
  if (header === null || header.trim() === "") return undefined
  const text = header.trim()
  if (/^\d+(\.\d+)?$/.test(text)) return Duration.millis(Math.round(Number(text) * 1000))
  const at = Date.parse(text)
  return Number.isNaN(at) ? undefined : Duration.millis(Math.max(0, at - now))
}

const describe = (cause: unknown): string => {
  if (cause instanceof Error) {
    const inner = (cause as Error & { cause?: unknown }).cause
    return inner instanceof Error ? `${cause.message} (${inner.message})` : cause.message
  }
  return String(cause)
}

/** Splits the items into requests within the count and byte limits, in order. */
export const chunk = <T extends { readonly bytes: number }>(
  items: ReadonlyArray<T>,
  maxEvents: number,
  maxBytes: number
): Array<Array<T>> => {
  const requests: Array<Array<T>> = []
  let current: Array<T> = []
  let bytes = ENVELOPE_BYTES
  for (const item of items) {
    const added = item.bytes + (current.length > 0 ? 1 : 0)
    if (current.length > 0 && (current.length >= maxEvents || bytes + added > maxBytes)) {
      requests.push(current)
      current = []
      bytes = ENVELOPE_BYTES
    }
    bytes += item.bytes + (current.length > 0 ? 1 : 0)
    current.push(item)
  }
  if (current.length > 0) requests.push(current)
  return requests
}

/**
 * `type: segment`: sends every event to Segment's HTTP Tracking API (`POST /v1/batch`) with its FeatBit id
 * as `messageId`, so Segment deduplicates re-sends.
 */
export const SegmentSink = defineSink({
  type: PLUGIN,
  description: "Segment HTTP Tracking API: track per event (+ identify once per user), /v1/batch, messageId = FeatBit id",
  config: SegmentSinkConfig,
  render: (config) => render(config),
  make: (config) =>
    Effect.sync(() => {
      const base = resolveEndpoint(config.endpoint)
      const url = `${base}/v1/batch`
      const authorization = `Basic ${Buffer.from(`${Redacted.value(config.writeKey)}:`).toString("base64")}`
      const timeoutMs = Duration.toMillis(config.requestTimeout)
      const maxEventBytes = Math.min(SEGMENT_LIMITS.maxBytesPerEvent, config.maxBytesPerRequest - ENVELOPE_BYTES)
      /** Users already identified in this run (envId + user key). */
      const identified = new Set<string>()
      /** Batches with a failed request: which of their requests were acknowledged, so a retry sends only the rest. */
      const plans = new Map<string, Plan>()

      const makePlan = (events: ReadonlyArray<ExportEvent>): Plan => {
        const rejected: Array<RejectedEvent> = []
        const items: Array<Item> = []
        for (const event of events) {
          const json = JSON.stringify(renderTrack(config, event))
          const bytes = Buffer.byteLength(json)
          if (bytes > maxEventBytes) {
            rejected.push({
              event,
              reason: `its Segment message is ${bytes} bytes, over the limit of ${maxEventBytes} bytes per event (Segment accepts at most 32 KB per event)`
            })
            continue
          }
          if (config.identify && !identified.has(userKeyOf(event))) {
            const identify = renderIdentify(event)
            if (identify !== undefined) {
              const identifyJson = JSON.stringify(identify)
              const identifyBytes = Buffer.byteLength(identifyJson)
              if (identifyBytes <= maxEventBytes) {
                identified.add(userKeyOf(event))
                items.push({ json: identifyJson, bytes: identifyBytes, event: undefined })
              }
            }
          }
          items.push({ json, bytes, event })
        }
        const requests = chunk(items, config.maxEventsPerRequest, config.maxBytesPerRequest).map(
          (group): Request => ({ items: group, done: false, rejected: [] })
        )
        return { requests, rejected }
      }

      const post = (body: string) =>
        Effect.tryPromise({
          try: async (signal) => {
            const response = await fetch(url, {
              method: "POST",
              headers: { authorization, "content-type": "application/json" },
              body,
              signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)])
            })
            const text = await response.text()
            return { status: response.status, retryAfter: response.headers.get("retry-after"), text }
          },
          catch: (cause) => SinkError.transient(PLUGIN, `the request to ${url} failed: ${describe(cause)}`, { cause })
        })

      /** Sends the items; on 400 splits them in halves until the refused events are isolated. */
      const send = (items: ReadonlyArray<Item>): Effect.Effect<ReadonlyArray<RejectedEvent>, SinkError> =>
        Effect.gen(function* () {
          const response = yield* post(bodyOf(items, new Date().toISOString()))
          const { status } = response
          const said = response.text.trim().slice(0, 300)
          if (status >= 200 && status < 300) return []
          if (status === 400 || status === 413) {
            if (items.length === 1) {
              const event = items[0]!.event
              return event === undefined ? [] : [{ event, reason: `Segment refused the event: HTTP ${status}${said === "" ? "" : ` ${said}`}` }]
            }
            const half = Math.ceil(items.length / 2)
            const parts = yield* Effect.all([send(items.slice(0, half)), send(items.slice(half))], { concurrency: 2 })
            return parts.flat()
          }
          if (status === 401 || status === 403) {
            return yield* Effect.fail(
              SinkError.fatal(PLUGIN, `Segment refused the write key (HTTP ${status} from ${url}): check sink.writeKey, it must be the write key of a Segment source of this workspace and region`)
            )
          }
          if (status === 404) {
            return yield* Effect.fail(SinkError.fatal(PLUGIN, `${url} does not exist (HTTP 404): check sink.endpoint`))
          }
          if (status === 429) {
            return yield* Effect.fail(
              SinkError.transient(PLUGIN, `Segment is rate limiting (HTTP 429 from ${url})`, { retryAfter: parseRetryAfter(response.retryAfter) })
            )
          }
          if (status === 408 || status >= 500) {
            return yield* Effect.fail(
              SinkError.transient(PLUGIN, `Segment answered HTTP ${status} from ${url}${said === "" ? "" : `: ${said}`}`, {
                retryAfter: parseRetryAfter(response.retryAfter)
              })
            )
          }
          return yield* Effect.fail(SinkError.fatal(PLUGIN, `Segment answered HTTP ${status} from ${url}${said === "" ? "" : `: ${said}`}`))
        })

      const write: Sink["write"] = (batch) =>
        Effect.gen(function* () {
          if (batch.events.length === 0) return accepted
          const key = `${batch.sequence}:${batch.events[0]!.id}:${batch.events.length}`
          const plan = plans.get(key) ?? makePlan(batch.events)
          plans.set(key, plan)
          const pending = plan.requests.filter((request) => !request.done)
          const results = yield* Effect.forEach(
            pending,
            (request) =>
              Effect.either(
                send(request.items).pipe(
                  Effect.tap((rejected) =>
                    Effect.sync(() => {
                      request.rejected = rejected
                      request.done = true
                    })
                  )
                )
              ),
            { concurrency: config.concurrency }
          )
          const failures = results.flatMap((result) => (Either.isLeft(result) ? [result.left] : []))
          if (failures.length > 0) {
            const fatal = failures.find((failure) => !failure.retryable)
            if (fatal !== undefined) {
              plans.delete(key)
              return yield* Effect.fail(fatal)
            }
            const waits = failures.flatMap((failure) => (failure.retryAfter === undefined ? [] : [failure.retryAfter]))
            const first = failures[0]!
            const message =
              failures.length === 1 ? first.message : `${failures.length} of ${plan.requests.length} requests failed; the first: ${first.message}`
            return yield* Effect.fail(
              SinkError.transient(PLUGIN, message, {
                cause: first.cause,
                retryAfter: waits.length === 0 ? undefined : waits.reduce((a, b) => Duration.max(a, b))
              })
            )
          }
          plans.delete(key)
          const rejected = [...plan.rejected, ...plan.requests.flatMap((request) => request.rejected)]
          return rejected.length === 0 ? accepted : { rejected }
        })

      const check = Effect.gen(function* () {
        const response = yield* post(bodyOf([], new Date().toISOString()))
        if (response.status >= 200 && response.status < 300) {
          return [`${url} accepted an empty batch with the configured write key (HTTP ${response.status})`]
        }
        if (response.status === 401 || response.status === 403) {
          return yield* Effect.fail(SinkError.fatal(PLUGIN, `Segment refused the write key (HTTP ${response.status} from ${url}): check sink.writeKey`))
        }
        return yield* Effect.fail(SinkError.transient(PLUGIN, `Segment answered HTTP ${response.status} from ${url}`))
      })

      const sink: Sink = { write, check }
      return sink
    })
})
