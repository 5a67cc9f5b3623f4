import type { Cursor } from "./Cursor.js"

export type PipelineState = "starting" | "reading" | "waiting" | "stopping" | "stopped" | "failed"

/**
 * Live counters of one pipeline, written by the engine and read by whoever shows progress. A plain
 * mutable object: it is updated once per batch on the hot path and read once a second.
 */
export class PipelineProgress {
  state: PipelineState = "starting"
  /** Events the sink acknowledged in this run. */
  exported = 0
  /** Records sent to the dead-letter file in this run. */
  deadLettered = 0
  /** Batches committed in this run. */
  batches = 0
  /** Failed attempts that were retried. */
  retries = 0
  /** The committed cursor. */
  cursor: Cursor | undefined = undefined
  /** The last failure that is being retried, for display. */
  lastRetry: string | undefined = undefined
  readonly startedAt: number = Date.now()

  constructor(readonly pipeline: string) {}
}
