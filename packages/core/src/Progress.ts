import type { Cursor } from "./Cursor.js"
import type { Timestamp } from "./Timestamp.js"

export type PipelineState = "starting" | "reading" | "waiting" | "stopping" | "stopped" | "failed"

/** What a running pipeline is doing now, for a person: `state`, with reading told from writing and retrying. */
export type PipelineActivity = Exclude<PipelineState, "reading"> | "reading" | "writing" | "retrying"

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
  /** Rows delivered after landing behind the cursor, in this run. */
  late = 0
  /** Rows found too late to export, in this run. */
  missed = 0
  /** The committed cursor. */
  cursor: Cursor | undefined = undefined
  /** The store's clock at the start of the current (or last) pass. */
  storeTime: Timestamp | undefined = undefined
  /** The horizon of the current (or last) pass: rows at or before it are read. */
  horizon: Timestamp | undefined = undefined
  /** The horizon of the last pass that completed: every row up to it has been read. */
  caughtUpTo: Timestamp | undefined = undefined
  /** The last failure that is being retried, for display; cleared once a batch is committed again. */
  lastRetry: string | undefined = undefined
  /** Batches at the sink now. */
  writing = 0
  readonly startedAt: number = Date.now()

  constructor(readonly pipeline: string) {}

  /**
   * While the pipeline reads: `retrying` when a failure is being retried (`lastRetry` says which), `writing`
   * when batches are at the sink (the source is not what it waits for), `reading` otherwise.
   */
  activity(): PipelineActivity {
    if (this.state !== "reading") return this.state
    if (this.lastRetry !== undefined) return "retrying"
    return this.writing > 0 ? "writing" : "reading"
  }

  /**
   * How far the export trails the store: the store's clock minus what has been read (the committed cursor,
   * or the horizon of the last completed pass when that is later: a quiet store has no newer rows to move the
   * cursor). Undefined before the first pass has read the store's clock.
   */
  secondsBehind(): number | undefined {
    if (this.storeTime === undefined) return undefined
    const read = [this.cursor?.timestamp, this.caughtUpTo].filter((t): t is Timestamp => t !== undefined).sort().pop()
    if (read === undefined) return undefined
    return Math.max(0, (Date.parse(this.storeTime.slice(0, 23) + "Z") - Date.parse(read.slice(0, 23) + "Z")) / 1000)
  }
}
