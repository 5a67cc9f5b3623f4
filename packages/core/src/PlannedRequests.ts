import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { SinkError } from "./Errors.js"
import type { RejectedEvent, SinkBatch } from "./Sink.js"

/** One request of a batch's plan, remembered across the engine's retries of that batch. */
export interface PlannedRequest {
  /** Acknowledged (its refused events in `rejected`): a retry of the batch does not send it again. */
  done: boolean
  /** The events the destination refused for good in this request. */
  rejected: ReadonlyArray<RejectedEvent>
}

/**
 * The error of a batch some of whose `total` requests failed: the first fatal failure; otherwise one transient
 * error that says how many failed, quotes the first and waits the longest `retryAfter` asked. Undefined
 * without failures.
 */
export const batchFailure = (plugin: string, failures: ReadonlyArray<SinkError>, total: number): SinkError | undefined => {
  if (failures.length === 0) return undefined
  const fatal = failures.find((failure) => !failure.retryable)
  if (fatal !== undefined) return fatal
  const waits = failures.flatMap((failure) => (failure.retryAfter === undefined ? [] : [failure.retryAfter]))
  const first = failures[0]!
  const message = failures.length === 1 ? first.message : `${failures.length} of ${total} requests failed; the first: ${first.message}`
  return SinkError.transient(plugin, message, {
    cause: first.cause,
    retryAfter: waits.length === 0 ? undefined : waits.reduce((a, b) => Duration.max(a, b))
  })
}

/**
 * Sends the requests not yet done, `concurrency` at a time, each marked done with what it refused as soon as
 * it is acknowledged, so a retry of the batch sends only the rest. Fails with the `batchFailure` of the
 * failed ones (out of all `requests`); otherwise succeeds with the refused events of every request.
 */
export const sendPending = <R extends PlannedRequest>(
  plugin: string,
  requests: ReadonlyArray<R>,
  send: (request: R) => Effect.Effect<ReadonlyArray<RejectedEvent>, SinkError>,
  concurrency: number
): Effect.Effect<Array<RejectedEvent>, SinkError> =>
  Effect.gen(function* () {
    const results = yield* Effect.forEach(
      requests.filter((request) => !request.done),
      (request) =>
        Effect.either(
          send(request).pipe(
            Effect.tap((rejected) =>
              Effect.sync(() => {
                request.rejected = rejected
                request.done = true
              })
            )
          )
        ),
      { concurrency }
    )
    const failure = batchFailure(plugin, results.flatMap((result) => (Either.isLeft(result) ? [result.left] : [])), requests.length)
    if (failure !== undefined) return yield* Effect.fail(failure)
    return requests.flatMap((request) => request.rejected)
  })

/**
 * The plans of the batches being written, kept across the engine's retries of a batch (a retry is the same
 * sequence, first event and size) so that it resumes where it failed; a plan is dropped once its batch has
 * succeeded or failed for good, so a later batch under the same key starts afresh.
 */
export const batchPlans = <P>() => {
  const plans = new Map<string, P>()
  return <A>(batch: SinkBatch, make: Effect.Effect<P>, run: (plan: P) => Effect.Effect<A, SinkError>): Effect.Effect<A, SinkError> =>
    Effect.gen(function* () {
      const key = `${batch.sequence}:${batch.events[0]?.id}:${batch.events.length}`
      const plan = plans.get(key) ?? (yield* make)
      plans.set(key, plan)
      const result = yield* run(plan).pipe(
        Effect.tapError((failure) =>
          Effect.sync(() => {
            if (!failure.retryable) plans.delete(key)
          })
        )
      )
      plans.delete(key)
      return result
    })
}
