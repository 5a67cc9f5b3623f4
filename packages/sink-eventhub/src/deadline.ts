import { SinkError } from "@featbit-export/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { PLUGIN } from "./classify.js"

/** What bounds the SDK's own attempts at one operation. */
export interface DeadlineSettings {
  readonly requestTimeout: Duration.Duration
  readonly sdkMaxRetries: number
  readonly sdkRetryDelay: Duration.Duration
}

/**
 * How long one operation (with the SDK's retries inside it) may take in all. The SDK bounds each attempt by
 * `requestTimeout` itself (rhea-promise's timer on the unsettled delivery); this bound is the backstop for
 * when it does not (a timer it never starts, a promise it never settles), so it is the SDK's worst case
 * plus a second: it never cuts short an attempt the SDK would still have finished.
 */
export const operationDeadline = (settings: DeadlineSettings): Duration.Duration =>
  Duration.sum(
    Duration.times(settings.requestTimeout, settings.sdkMaxRetries + 1),
    Duration.sum(Duration.times(settings.sdkRetryDelay, settings.sdkMaxRetries), Duration.seconds(1))
  )

/**
 * Fails `effect` with a transient SinkError once `limit` has passed, interrupting it (an `Effect.tryPromise`
 * then aborts its signal, so the SDK forgets the pending delivery). The timing is Effect's own scheduler
 * (a plain timer): a timer behind `AbortSignal.any([.., AbortSignal.timeout()])` can be garbage-collected on
 * Node 20 and never fire, which would leave a stalled send waiting forever.
 */
export const withDeadline =
  (limit: Duration.Duration, what: string) =>
  <A, R>(effect: Effect.Effect<A, SinkError, R>): Effect.Effect<A, SinkError, R> =>
    Effect.timeoutFail(effect, {
      duration: limit,
      onTimeout: () =>
        SinkError.transient(
          PLUGIN,
          `${what} got no answer within ${Duration.format(limit)} (sink.requestTimeout per attempt, sink.sdkMaxRetries retries): the hub or the network stalled`
        )
    })
