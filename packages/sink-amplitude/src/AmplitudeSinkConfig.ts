import { DurationSetting, PositiveInt } from "@featbit-export/core"
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"

/** Amplitude's documented limits (reference/protocols-round2.md 1.4). */
export const AMPLITUDE_LIMITS = {
  /** Events in one request, HTTP V2 and Batch ("fewer than 2,000" on the HTTP V2 page; 2,000 on the Batch page). */
  maxEventsPerRequest: 2_000,
  /** Bytes of one HTTP V2 request body ("under 1 MB", read as 10^6 bytes, counted after any decompression). */
  httpApiMaxBytes: 1_000_000,
  /** Bytes of one Batch API request body (20 MB). */
  batchMaxBytes: 20_000_000,
  /** The wait Amplitude asks for after a 429 on HTTP V2 ("pause that user or device for 30 s"); it sends no Retry-After. */
  throttleWait: Duration.seconds(30)
} as const

/** The event name of flag evaluations by default: Amplitude Experiment's exposure convention. */
export const DEFAULT_FLAG_EVENT_TYPE = "$exposure"

export const US_BASE = "https://api2.amplitude.com"
export const EU_BASE = "https://api.eu.amplitude.com"
export const ROUTES = { httpapi: "/2/httpapi", batch: "/batch" } as const
export type AmplitudeApi = keyof typeof ROUTES

/** The keys of a `type: amplitude` sink in a pipeline file. */
export const AmplitudeSinkConfig = Schema.Struct({
  apiKey: Schema.Redacted(Schema.String).annotations({
    description: "The Amplitude project's API key (use ${AMPLITUDE_API_KEY}); sent as api_key in the body, never printed"
  }),
  endpoint: Schema.optionalWith(
    Schema.String.annotations({
      description: `Where events go: "us" (${US_BASE}, the default), "eu" (${EU_BASE}, for EU data centre projects) or a base URL the API's path is appended to`
    }),
    { default: () => "us", exact: true }
  ),
  api: Schema.optionalWith(
    Schema.Literal("httpapi", "batch").annotations({
      description: 'Which API: "httpapi" (HTTP V2, POST /2/httpapi, 1 MB per request; the default) or "batch" (Batch Event Upload, POST /batch, 20 MB per request)'
    }),
    { default: () => "httpapi" as const, exact: true }
  ),
  maxEventsPerRequest: Schema.optionalWith(PositiveInt.pipe(Schema.lessThanOrEqualTo(AMPLITUDE_LIMITS.maxEventsPerRequest)), {
    default: () => 1_000,
    exact: true
  }).annotations({ description: "Most events in one request (at most 2000; default 1000, below the HTTP V2 page's \"fewer than 2,000\")" }),
  maxBytesPerRequest: Schema.optional(PositiveInt.pipe(Schema.lessThanOrEqualTo(AMPLITUDE_LIMITS.batchMaxBytes))).annotations({
    description: "Most bytes in one request body (default and maximum: 1000000 for httpapi, 20000000 for batch)"
  }),
  concurrency: Schema.optionalWith(PositiveInt, { default: () => 4, exact: true }).annotations({
    description: "Requests of one batch in flight at once (default 4)"
  }),
  flagEventType: Schema.optionalWith(
    Schema.String.pipe(Schema.minLength(1)).annotations({ description: 'The event_type of flag evaluations (default "$exposure", Amplitude Experiment\'s exposure event)' }),
    { default: () => DEFAULT_FLAG_EVENT_TYPE, exact: true }
  ),
  userProperties: Schema.optionalWith(
    Schema.Boolean.annotations({ description: "Send the FeatBit user's name as user_properties.name on every event (default true)" }),
    { default: () => true, exact: true }
  ),
  throttleWait: Schema.optionalWith(DurationSetting, { default: () => AMPLITUDE_LIMITS.throttleWait, exact: true }).annotations({
    description: "How long to wait after a 429 without Retry-After (default 30s, as Amplitude asks)"
  }),
  requestTimeout: Schema.optionalWith(DurationSetting, { default: () => Duration.seconds(30), exact: true }).annotations({
    description: "How long one request may take before it counts as failed and is retried (default 30s)"
  })
})
export type AmplitudeSinkConfig = typeof AmplitudeSinkConfig.Type

/** The base URL the configuration names. */
export const resolveBase = (endpoint: string): string => {
  const value = endpoint.trim()
  if (value.toLowerCase() === "us" || value === "") return US_BASE
  if (value.toLowerCase() === "eu") return EU_BASE
  return value.replace(/\/+$/, "")
}

/** The URL requests are posted to. */
export const resolveUrl = (config: Pick<AmplitudeSinkConfig, "endpoint" | "api">): string => `${resolveBase(config.endpoint)}${ROUTES[config.api]}`

/** The byte limit of one request body for this configuration. */
export const maxBytesOf = (config: Pick<AmplitudeSinkConfig, "api" | "maxBytesPerRequest">): number =>
  config.maxBytesPerRequest ?? (config.api === "batch" ? AMPLITUDE_LIMITS.batchMaxBytes : AMPLITUDE_LIMITS.httpApiMaxBytes)
