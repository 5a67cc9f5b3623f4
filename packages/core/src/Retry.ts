import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Random from "effect/Random"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { DurationSetting, NonNegativeInt, ValueIssue, formatDuration } from "./Settings.js"

const DEFAULT_INITIAL_DELAY = Duration.millis(200)
const DEFAULT_MAX_DELAY = Duration.seconds(30)

const RetryFields = Schema.Struct({
  initialDelay: Schema.optionalWith(DurationSetting, { default: () => DEFAULT_INITIAL_DELAY, exact: true }).annotations({
    description: "Upper bound of the first wait, a duration with a unit such as 200ms; each retry doubles it (default 200ms)"
  }),
  maxDelay: Schema.optionalWith(DurationSetting, { default: () => DEFAULT_MAX_DELAY, exact: true }).annotations({
    description: "No wait is longer than this, a duration with a unit such as 30s, except when the destination asks for longer (default 30s)"
  }),
  maxRetries: Schema.optionalWith(NonNegativeInt, { default: () => 10, exact: true }).annotations({
    description: "Retries of one batch or one read before the pipeline stops (default 10)"
  })
})

/** The `retry` block of a pipeline: how transient failures of its source and sink are retried. */
export const RetryPolicy = RetryFields.pipe(
  Schema.filter(
    (policy, _, ast) => {
      if (Duration.lessThanOrEqualTo(policy.initialDelay, policy.maxDelay)) return undefined
      // The sentence goes on the key the person wrote: initialDelay, unless only maxDelay moved from its default.
      const key = Duration.equals(policy.initialDelay, DEFAULT_INITIAL_DELAY) ? "maxDelay" : "initialDelay"
      const both = `initialDelay (${formatDuration(policy.initialDelay)}) is longer than maxDelay (${formatDuration(policy.maxDelay)})`
      const fix = key === "maxDelay" ? "raise maxDelay, or lower initialDelay below it" : "lower initialDelay, or raise maxDelay above it"
      const reason = "the first wait would already pass the cap"
      return new ParseResult.Pointer(
        key,
        policy,
        new ValueIssue(ast, policy, `${both}: ${reason}; ${fix}`, `initialDelay is longer than maxDelay: ${reason}; ${fix}`)
      )
    },
    // The check spans two keys: editors check each key's form.
    { jsonSchema: {} }
  )
).annotations({ identifier: "RetryPolicy" })
export type RetryPolicy = typeof RetryPolicy.Type

export const defaultRetryPolicy: RetryPolicy = Schema.decodeSync(RetryPolicy)({})

/**
 * The longest wait a destination's `Retry-After` can impose: a wrong or hostile header must not stall a
 * pipeline for a day. Past it the request is simply tried again (and may be told to wait again).
 */
export const maxRetryAfter: Duration.Duration = Duration.minutes(10)

/** Retries a pipeline grants, beyond `maxRetries`, to a destination that said how long to wait. */
export const extraPoliteRetries = 20

/** What the schedule needs to know about a failure. */
export interface RetryableFailure {
  readonly retryable: boolean
  readonly retryAfter?: Duration.Duration | undefined
}

/**
 * Exponential backoff with full jitter: the n-th wait is uniform in `[0, min(maxDelay, initialDelay * 2^n))`,
 * so many runners retrying at once spread out instead of hitting the destination together. A failure that
 * carries `retryAfter` (HTTP `Retry-After`, a broker's "wait 4 seconds") waits exactly that long, up to
 * `maxRetryAfter`.
 * Stops at the first failure that is not retryable, or after `maxRetries` retries; waits a destination asked
 * for (`retryAfter`) are not counted, up to `extraPoliteRetries` more.
 */
export const retrySchedule = <E extends RetryableFailure>(policy: RetryPolicy): Schedule.Schedule<E, E> =>
  Schedule.exponential(policy.initialDelay, 2).pipe(
    Schedule.zipRight(Schedule.identity<E>()),
    Schedule.whileInput((failure: E) => failure.retryable),
    Schedule.modifyDelayEffect((failure: E, delay) =>
      failure.retryAfter !== undefined
        ? Effect.succeed(Duration.min(failure.retryAfter, maxRetryAfter))
        : Random.nextRange(0, Math.min(Duration.toMillis(policy.maxDelay), Duration.toMillis(delay))).pipe(
            Effect.map(Duration.millis)
          )
    ),
    // A destination that says how long to wait (429 with Retry-After) is asking for patience, not failing:
    // such waits do not use up `maxRetries`, up to `extraPoliteRetries` of them.
    Schedule.intersect(
      Schedule.identity<E>().pipe(
        // The output is the count of ordinary failures before this one.
        Schedule.reduce(0, (counted, failure: E) => (failure.retryAfter === undefined ? counted + 1 : counted)),
        Schedule.check((failure: E, counted) => failure.retryAfter !== undefined || counted < policy.maxRetries)
      )
    ),
    Schedule.intersect(Schedule.recurs(policy.maxRetries + extraPoliteRetries)),
    Schedule.map(([[failure]]) => failure)
  )
