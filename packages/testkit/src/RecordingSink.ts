import { type ExportEvent, type RejectedEvent, type Sink, type SinkBatch, SinkError } from "@featbit-export/core"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

/** What the next write does instead of (or before) succeeding. */
export type ScriptedWrite =
  | { readonly _tag: "Transient"; readonly retryAfter?: Duration.DurationInput }
  | { readonly _tag: "Fatal" }
  /** Accepts nothing until the returned gate is opened. */
  | { readonly _tag: "Hold"; readonly gate: Deferred.Deferred<void> }
  | { readonly _tag: "Delay"; readonly duration: Duration.DurationInput }

/**
 * A sink that records what it acknowledged, for tests of the engine and of sources. Every write attempt and
 * every acknowledgement is kept in order; writes can be scripted to fail, hang or be slow; events whose id
 * is in `rejectIds` are rejected for good.
 */
export interface RecordingSink extends Sink {
  /** Events acknowledged, in acknowledgement order (with duplicates, if any were delivered twice). */
  readonly delivered: Array<ExportEvent>
  /** Batch sequences in the order their writes were acknowledged. */
  readonly acknowledged: Array<number>
  /** Number of write calls, including failed ones. */
  readonly attempts: () => number
  readonly script: (...writes: ReadonlyArray<ScriptedWrite>) => void
  readonly rejectIds: Set<string>
}

export const makeRecordingSink = (options: { readonly maxInFlight?: number } = {}): RecordingSink => {
  const delivered: Array<ExportEvent> = []
  const acknowledged: Array<number> = []
  const rejectIds = new Set<string>()
  let scripted: Array<ScriptedWrite> = []
  let attempts = 0

  const deliver = (batch: SinkBatch) =>
    Effect.sync(() => {
      const rejected: Array<RejectedEvent> = []
      for (const event of batch.events) {
        if (rejectIds.has(event.id)) rejected.push({ event, reason: "rejected by the test destination" })
        else delivered.push(event)
      }
      acknowledged.push(batch.sequence)
      return { rejected }
    })

  return {
    delivered,
    acknowledged,
    rejectIds,
    attempts: () => attempts,
    script: (...writes) => {
      scripted = [...scripted, ...writes]
    },
    ...(options.maxInFlight === undefined ? {} : { maxInFlight: options.maxInFlight }),
    write: (batch) =>
      Effect.suspend(() => {
        attempts += 1
        const next = scripted.shift()
        if (next === undefined) return deliver(batch)
        switch (next._tag) {
          case "Transient":
            return Effect.fail(
              SinkError.transient("recording", "destination busy (injected)", {
                retryAfter: next.retryAfter === undefined ? undefined : Duration.decode(next.retryAfter)
              })
            )
          case "Fatal":
            return Effect.fail(SinkError.fatal("recording", "credentials refused (injected); fix the write key"))
          case "Hold":
            return Deferred.await(next.gate).pipe(Effect.zipRight(deliver(batch)))
          case "Delay":
            return Effect.sleep(next.duration).pipe(Effect.zipRight(deliver(batch)))
        }
      }),
    check: Effect.succeed(["recording sink ready"])
  }
}
