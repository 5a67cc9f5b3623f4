import { DurationSetting, PositiveInt } from "@featbit-export/core"
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"

/** Segment's documented limits for `/v1/batch`. */
export const SEGMENT_LIMITS = {
  /** Events in one request: past it Segment answers 200 and drops the events. */
  maxEventsPerRequest: 2_500,
  /** Bytes of one request body. */
  maxBytesPerRequest: 500 * 1024,
  /** Bytes of one event (its JSON) inside a batch. */
  maxBytesPerEvent: 32 * 1024
} as const

export const US_ENDPOINT = "https://api.segment.io"
export const EU_ENDPOINT = "https://events.eu1.segmentapis.com"

/** The keys of a `type: segment` sink in a pipeline file. */
export const SegmentSinkConfig = Schema.Struct({
  writeKey: Schema.Redacted(Schema.String).annotations({
    description: "The Segment source's write key (use ${SEGMENT_WRITE_KEY}); never printed"
  }),
  endpoint: Schema.optionalWith(
    Schema.String.annotations({
      description: `Where events go: "us" (${US_ENDPOINT}, the default), "eu" (${EU_ENDPOINT}, for EU workspaces) or a base URL`
    }),
    { default: () => "us", exact: true }
  ),
  maxEventsPerRequest: Schema.optionalWith(PositiveInt.pipe(Schema.lessThanOrEqualTo(SEGMENT_LIMITS.maxEventsPerRequest)), {
    default: () => SEGMENT_LIMITS.maxEventsPerRequest,
    exact: true
  }).annotations({ description: "Most events in one /v1/batch request (at most 2500, the default)" }),
  maxBytesPerRequest: Schema.optionalWith(PositiveInt.pipe(Schema.lessThanOrEqualTo(SEGMENT_LIMITS.maxBytesPerRequest)), {
    default: () => 480 * 1024,
    exact: true
  }).annotations({ description: "Most bytes in one request body (at most 512000, Segment's 500 KB; default 491520)" }),
  concurrency: Schema.optionalWith(PositiveInt, { default: () => 4, exact: true }).annotations({
    description: "Requests of one batch in flight at once (default 4)"
  }),
  identify: Schema.optionalWith(Schema.Boolean.annotations({ description: "Send an identify with the user's name once per user per run (default true)" }), {
    default: () => true,
    exact: true
  }),
  flagEventName: Schema.optionalWith(
    Schema.String.annotations({ description: 'The track event name of flag evaluations (default "Feature Flag Evaluated")' }),
    { default: () => "Feature Flag Evaluated", exact: true }
  ),
  experimentViewed: Schema.optionalWith(
    Schema.Boolean.annotations({
      description: 'Send flag evaluations with sendToExperiment as Segment\'s "Experiment Viewed" spec event (default false)'
    }),
    { default: () => false, exact: true }
  ),
  requestTimeout: Schema.optionalWith(DurationSetting, { default: () => Duration.seconds(30), exact: true }).annotations({
    description: "How long one request may take before it counts as failed and is retried (default 30s)"
  })
})
export type SegmentSinkConfig = typeof SegmentSinkConfig.Type

/** The base URL the configuration names. */
export const resolveEndpoint = (endpoint: string): string => {
  const value = endpoint.trim()
  if (value.toLowerCase() === "us" || value === "") return US_ENDPOINT
  if (value.toLowerCase() === "eu") return EU_ENDPOINT
  return value.replace(/\/+$/, "")
}
