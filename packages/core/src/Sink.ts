import type * as Effect from "effect/Effect"
import type { SinkError } from "./Errors.js"
import type { ExportEvent } from "./Event.js"
import type { SinkFields } from "./Transform.js"

/** The events of one source page, handed to a sink. `sequence` counts batches within a run, from 0. */
export interface SinkBatch {
  readonly events: ReadonlyArray<ExportEvent>
  readonly sequence: number
  /**
   * The fields the pipeline file computed for an event of this batch (`sink.map`), for a sink that declares
   * `mappable` fields: a field given here replaces the sink's own choice for it. Undefined without a map.
   */
  readonly fields?: ((event: ExportEvent) => SinkFields | undefined) | undefined
}

/** An event the destination refused for good (too large, invalid): it goes to the dead-letter file. */
export interface RejectedEvent {
  readonly event: ExportEvent
  readonly reason: string
}

export interface WriteResult {
  readonly rejected: ReadonlyArray<RejectedEvent>
}

export const accepted: WriteResult = { rejected: [] }

/**
 * Delivers batches to a destination.
 *
 * `write` succeeds only once the destination has durably accepted every event of the batch that is not
 * listed in `rejected` (an HTTP 2xx for all of it, an AMQP accept, data fsynced). It fails with a
 * `SinkError` otherwise; the engine retries the whole batch when the error is retryable, so a sink must
 * send every event with its `id` as the destination's idempotency key. `write` may be called for several
 * batches at once (the pipeline's `batch.inFlight`).
 */
export interface Sink {
  readonly write: (batch: SinkBatch) => Effect.Effect<WriteResult, SinkError>
  /** Connects and authenticates without writing; returns what it confirmed, one sentence each. */
  readonly check?: Effect.Effect<ReadonlyArray<string>, SinkError>
  /**
   * The most batches this sink accepts at once; the engine never exceeds it. A sink that must keep the
   * destination in cursor order (one file) says 1.
   */
  readonly maxInFlight?: number
}
