import type { Cursor } from "./Cursor.js"
import type { Timestamp } from "./Timestamp.js"

/** `elsewhere`: another runner sharing the state runs it (a cluster); this one would take it over. */
export type PipelineState = "starting" | "reading" | "waiting" | "restarting" | "stopping" | "stopped" | "failed" | "elsewhere"

/** How a failed attempt is counted: retried after a pause (`transient`), after the far end asked for one (`throttled`), or not (`fatal`). */
export type FailureClass = "transient" | "throttled" | "fatal"

/**
 * What the engine reports as it goes, for whoever measures it (the runner's `/metrics`). Called on the hot
 * path: keep them cheap.
 */
export interface ProgressObserver {
  /** A page was read: how long the read took, in seconds. */
  readonly read?: (seconds: number) => void
  /** A batch was acknowledged by the sink (retries included): how long, in seconds. */
  readonly written?: (seconds: number) => void
  /** A failed attempt: retried or not. */
  readonly failed?: (failure: FailureClass) => void
}

/** What a running pipeline is doing now, for a person: `state`, with reading told from writing and retrying. */
export type PipelineActivity = Exclude<PipelineState, "reading"> | "reading" | "writing" | "retrying"

/**
 * Live counters of one pipeline, written by the engine and read by whoever shows progress. A plain
 * mutable object: it is updated once per batch on the hot path and read once a second.
 */
const eventMillis = (timestamp: Timestamp): number => Date.parse(timestamp.slice(0, 23) + "Z")

export class PipelineProgress {
  #state: PipelineState = "starting"
  /** When `state` last changed (ms since the epoch). */
  stateSince: number = Date.now()
  /** Events the sink acknowledged in this run. */
  exported = 0
  /** Records sent to the dead-letter file in this run. */
  deadLettered = 0
  /** Of them, rows the source could not decode, events an expression failed on, and events the sink refused. */
  readonly deadLetteredBy = { source: 0, transform: 0, sink: 0 }
  /** Events the pipeline's filter left out, in this run. */
  filtered = 0
  /** Flag evaluations exported without their flag's name and value (enrichment did not know the flag), in this run. */
  unenriched = 0
  /** Times the runner restarted this pipeline after it gave up on a passing failure. */
  restarts = 0
  /** The failure that stopped (or restarted) the pipeline last, and when (ms since the epoch). */
  lastError: { readonly message: string; readonly at: number } | undefined = undefined
  /** Told of reads, writes and failures as they happen. */
  observer: ProgressObserver = {}
  /** Batches committed in this run. */
  batches = 0
  /** Failed attempts that were retried. */
  retries = 0
  /** Rows delivered after landing behind the cursor, in this run. */
  late = 0
  /** Rows found too late to export, in this run. */
  missed = 0
  #cursor: Cursor | undefined = undefined
  /** The first cursor of this run, and when it was seen: where catching up is measured from. */
  #first: { readonly at: number; readonly ms: number } | undefined = undefined
  /** The store's clock at the start of the current (or last) pass. */
  storeTime: Timestamp | undefined = undefined
  /** The horizon of the current (or last) pass: rows at or before it are read. */
  horizon: Timestamp | undefined = undefined
  /** The horizon of the last pass that completed: every row up to it has been read. */
  caughtUpTo: Timestamp | undefined = undefined
  /** The last failure that is being retried, for display; cleared once a batch is committed again. */
  lastRetry: string | undefined = undefined
  /** Runners sharing a state: the runner that claimed the pipeline last, and its epoch (refreshed by the runner). */
  claimedBy: { readonly runner: string; readonly epoch: number } | undefined = undefined
  /** Batches at the sink now. */
  writing = 0
  readonly startedAt: number = Date.now()

  /**
   * `pipeline`: the pipeline this reports on; `part`: which part of it, when it runs in parts (a sliced
   * backfill: `slice 2/8`, `live`), reported together as one pipeline.
   */
  constructor(
    readonly pipeline: string,
    readonly part?: string
  ) {}

  /** The committed cursor. */
  get cursor(): Cursor | undefined {
    return this.#cursor
  }

  set cursor(next: Cursor | undefined) {
    this.#cursor = next
    if (next !== undefined && this.#first === undefined) this.#first = { at: eventMillis(next.timestamp), ms: Date.now() }
  }

  /**
   * While the first pass of this run has not finished: how far the cursor has come from where the run began
   * towards the pass's horizon (0 to 1), and the seconds left at the pace so far (undefined until it moved).
   */
  catchingUp(): { readonly fraction: number; readonly etaSeconds: number | undefined } | undefined {
    if (this.caughtUpTo !== undefined || this.#first === undefined || this.#cursor === undefined || this.horizon === undefined) return undefined
    const span = eventMillis(this.horizon) - this.#first.at
    if (span <= 0) return undefined
    const fraction = Math.min(1, Math.max(0, (eventMillis(this.#cursor.timestamp) - this.#first.at) / span))
    const elapsed = (Date.now() - this.#first.ms) / 1000
    return { fraction, etaSeconds: fraction > 0 && elapsed > 0 ? (elapsed * (1 - fraction)) / fraction : undefined }
  }

  get state(): PipelineState {
    return this.#state
  }

  set state(next: PipelineState) {
    if (next === this.#state) return
    this.#state = next
    this.stateSince = Date.now()
  }

  /**
   * While the pipeline reads: `retrying` when a failure is being retried (`lastRetry` says which), `writing`
   * when batches are at the sink (the source is not what it waits for), `reading` otherwise.
   */
  activity(): PipelineActivity {
    if (this.#state !== "reading") return this.#state
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
    const read = [this.#cursor?.timestamp, this.caughtUpTo].filter((t): t is Timestamp => t !== undefined).sort().pop()
    if (read === undefined) return undefined
    return Math.max(0, (Date.parse(this.storeTime.slice(0, 23) + "Z") - Date.parse(read.slice(0, 23) + "Z")) / 1000)
  }
}
