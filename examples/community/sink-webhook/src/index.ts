import { createHmac } from "node:crypto"
import { type ExportEvent, type MappableField, type Sink, type SinkBatch, type SinkFields, SinkError, accepted, defineSink } from "@featbit-export/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"

const PLUGIN = "webhook"

/** The keys of `sink: { use: "@featbit-export-examples/sink-webhook", ... }`. */
export const WebhookSinkConfig = Schema.Struct({
  url: Schema.String.pipe(Schema.pattern(/^https?:\/\//, { message: () => "the webhook's url starts with http:// or https://" })).annotations({
    description: "Where batches are POSTed as JSON { events: [...] }"
  }),
  secret: Schema.Redacted(Schema.String).annotations({
    description: "Signs each body: X-FeatBit-Signature: sha256=<hex HMAC-SHA256 of the body with this secret>"
  }),
  timeoutMs: Schema.optionalWith(Schema.Int.pipe(Schema.positive({ message: () => "must be a positive whole number" })).annotations({ description: "Per-request timeout in milliseconds (default 30000)" }), {
    default: () => 30_000,
    exact: true
  }),
  maxInFlight: Schema.optionalWith(Schema.Int.pipe(Schema.positive({ message: () => "must be a positive whole number" })).annotations({ description: "Requests at once (default 4)" }), {
    default: () => 4,
    exact: true
  })
})
export type WebhookSinkConfig = typeof WebhookSinkConfig.Type

/**
 * What a pipeline file may compute for this sink (`sink: { use: ..., map: { body: '...' } }`). The runner
 * type-checks each expression against `type` when the file loads and hands the values to `write` in
 * `batch.fields`.
 */
export const WEBHOOK_MAPPABLE = {
  body: { type: "dyn", description: "The JSON posted for the event in events[], instead of the canonical event" }
} as const satisfies Readonly<Record<string, MappableField>>

/** The item of `events[]` for one event: the body the file's `map:` computed for it, or the event itself. */
export const itemOf = (event: ExportEvent, fields: SinkFields | undefined): unknown => {
  const body = fields?.["body"]
  return body === undefined ? event : body
}

/** The HMAC the receiver recomputes to check a body came from this sink. */
export const signature = (secret: string, body: string): string => `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`

/** The same batch always gets the same key, so a receiver can drop a retried request. */
export const idempotencyKey = (events: ReadonlyArray<ExportEvent>): string =>
  `${events[0]?.id ?? "empty"}..${events[events.length - 1]?.id ?? "empty"}`

/** Seconds or an HTTP date, as Retry-After allows. */
const retryAfter = (header: string | null): Duration.Duration | undefined => {
  if (header === null) return undefined
  const seconds = Number(header)
  if (Number.isFinite(seconds) && seconds >= 0) return Duration.seconds(seconds)
  const at = Date.parse(header)
  return Number.isNaN(at) ? undefined : Duration.millis(Math.max(0, at - Date.now()))
}

export const makeWebhookSink = (config: WebhookSinkConfig): Sink => {
  const write = (batch: SinkBatch) =>
    Effect.tryPromise({
      try: async (signal) => {
        if (batch.events.length === 0) return { ok: true as const }
        // Looked up per event: the engine keys the mapped fields by the event object.
        const body = JSON.stringify({ events: batch.events.map((event) => itemOf(event, batch.fields?.(event))) })
        const response = await fetch(config.url, {
          method: "POST",
          body,
          headers: {
            "content-type": "application/json",
            "x-featbit-signature": signature(Redacted.value(config.secret), body),
            "idempotency-key": idempotencyKey(batch.events)
          },
          signal
        })
        await response.arrayBuffer().catch(() => undefined)
        return { ok: response.ok, status: response.status, retryAfter: response.headers.get("retry-after") }
      },
      // Never the URL's credentials or the secret: only what failed.
      catch: (cause) => SinkError.transient(PLUGIN, `the webhook could not be reached (${(cause as Error).name})`, { cause })
    }).pipe(
      // The deadline is a fiber timer: when it fires the fiber is interrupted, which aborts the request's
      // signal. Not AbortSignal.timeout: on Node 20 its timer goes with the signal when that is garbage
      // collected, and a request to a webhook that never answers then waits for undici's 5 minutes.
      Effect.timeoutFail({
        duration: Duration.millis(config.timeoutMs),
        onTimeout: () => SinkError.transient(PLUGIN, `the webhook did not answer within ${config.timeoutMs} ms (timeoutMs)`)
      }),
      Effect.flatMap((result) => {
        if (result.ok) return Effect.succeed(accepted)
        const status = result.status
        if (status === 401 || status === 403 || status === 404) {
          return Effect.fail(SinkError.fatal(PLUGIN, `the webhook answered HTTP ${status}: check its url and secret`))
        }
        if (status === 429 || status >= 500) {
          return Effect.fail(SinkError.transient(PLUGIN, `the webhook answered HTTP ${status}`, { retryAfter: retryAfter(result.retryAfter) }))
        }
        return Effect.fail(SinkError.fatal(PLUGIN, `the webhook refused the batch with HTTP ${status}`))
      })
    )
  return { write, maxInFlight: config.maxInFlight }
}

/** The plugin: `sink: { use: "@featbit-export-examples/sink-webhook", url: ..., secret: ... }`. */
export const WebhookSink = defineSink({
  type: PLUGIN,
  description: "POSTs signed JSON batches to an HTTP webhook",
  config: WebhookSinkConfig,
  mappable: WEBHOOK_MAPPABLE,
  make: (config) => Effect.sync(() => makeWebhookSink(config)),
  render: () => (event, fields) => ({ events: [itemOf(event, fields)] })
})

export default WebhookSink
