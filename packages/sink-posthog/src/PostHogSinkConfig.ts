import { DurationSetting, PositiveInt } from "@featbit-export/core"
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"

/** PostHog's limits for `/batch/` (the Rust capture service, rust/capture/src/router.rs, and its docs). */
export const POSTHOG_LIMITS = {
  /** Bytes of one `/batch/` body, raw and after gunzip (`BATCH_BODY_SIZE`): past it capture answers 413 or 400. */
  maxBytesPerRequest: 20 * 1024 * 1024,
  /** Bytes of one event: PostHog accepts larger ones and then discards them (ingestion warnings, "over 1 MB"). */
  maxBytesPerEvent: 1_000_000
} as const

/** Defaults: PostHog documents no count limit per request; these keep a resend after a failure small. */
export const POSTHOG_DEFAULTS = {
  maxEventsPerRequest: 1_000,
  maxBytesPerRequest: 5 * 1024 * 1024,
  concurrency: 4,
  requestTimeout: Duration.seconds(30)
} as const

/**
 * At most this many extra requests are sent to find the refused events of one refused request (by
 * halving it); past it, what is still unresolved is dead-lettered with the destination's reason.
 */
export const SPLIT_BUDGET = 100

export const US_HOST = "https://us.i.posthog.com"
export const EU_HOST = "https://eu.i.posthog.com"

/** The keys of a `type: posthog` sink in a pipeline file. */
export const PostHogSinkConfig = Schema.Struct({
  apiKey: Schema.Redacted(Schema.String).annotations({
    description: "The PostHog project API key, phc_... (use ${POSTHOG_API_KEY}); never printed"
  }),
  host: Schema.optionalWith(
    Schema.String.annotations({
      description: `Where events go: "us" (${US_HOST}, the default), "eu" (${EU_HOST}) or the base URL of a self-hosted PostHog`
    }),
    { default: () => "us", exact: true }
  ),
  historicalMigration: Schema.optionalWith(
    Schema.Boolean.annotations({
      description: "Send historical_migration: true, for backfills of past events (PostHog processes them in order, outside spike detection; default false)"
    }),
    { default: () => false, exact: true }
  ),
  maxEventsPerRequest: Schema.optionalWith(PositiveInt, {
    default: () => POSTHOG_DEFAULTS.maxEventsPerRequest,
    exact: true
  }).annotations({ description: "Most events in one /batch/ request (default 1000)" }),
  maxBytesPerRequest: Schema.optionalWith(PositiveInt.pipe(Schema.lessThanOrEqualTo(POSTHOG_LIMITS.maxBytesPerRequest)), {
    default: () => POSTHOG_DEFAULTS.maxBytesPerRequest,
    exact: true
  }).annotations({ description: "Most bytes in one request body before compression (at most 20971520, PostHog's 20 MiB; default 5242880)" }),
  concurrency: Schema.optionalWith(PositiveInt, { default: () => POSTHOG_DEFAULTS.concurrency, exact: true }).annotations({
    description: "Requests of one batch in flight at once (default 4)"
  }),
  gzip: Schema.optionalWith(Schema.Boolean.annotations({ description: "Gzip request bodies (Content-Encoding: gzip; default true)" }), {
    default: () => true,
    exact: true
  }),
  personName: Schema.optionalWith(
    Schema.Boolean.annotations({ description: "Set the person property name from the FeatBit user's name ($set) on every event (default true)" }),
    { default: () => true, exact: true }
  ),
  requestTimeout: Schema.optionalWith(DurationSetting, { default: () => POSTHOG_DEFAULTS.requestTimeout, exact: true }).annotations({
    description: "How long one request may take before it counts as failed and is retried (default 30s)"
  })
})
export type PostHogSinkConfig = typeof PostHogSinkConfig.Type

/** The base URL the configuration names. */
export const resolveHost = (host: string): string => {
  const value = host.trim()
  if (value.toLowerCase() === "us" || value === "") return US_HOST
  if (value.toLowerCase() === "eu") return EU_HOST
  return value.replace(/\/+$/, "")
}
