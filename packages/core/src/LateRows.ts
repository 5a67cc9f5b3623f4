import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Timestamp from "./Timestamp.js"

// Late rows are rows that land behind the committed cursor: `timestamp` is the SDK's clock, and a mobile
// app flushing after a day offline, or FeatBit's insight queue backing up, writes rows dated before rows
// already exported. A store without an ingest-time index cannot say which rows are new, but it can count:
// the source keeps, per time bucket behind the cursor, how many rows it delivered, and recounts those
// buckets each pass. A bucket that grew holds late rows; only such buckets are read again.
//
// Buckets are `width` ms wide and aligned on the epoch, so a bucket means the same span in every pass.
// `lateWindow` is covered by fine buckets (about BUCKETS_PER_WINDOW of them): growth there is read again and
// exported. Behind it, coarse buckets (BUCKETS_PER_WINDOW fine ones each) are recounted now and then (an
// audit): growth there is reported as missed, with how late it came.

/** Fine buckets per `lateWindow`; also fine buckets per coarse bucket. */
export const BUCKETS_PER_WINDOW = 360
/** Coarse buckets kept behind the fine ones: rows landing up to this many lateWindows further back are reported. */
export const AUDIT_BUCKETS = 24
/** An audit runs when the store's clock has moved this share of `lateWindow` since the last one. */
export const AUDIT_EVERY = 1 / 6

const Count = Schema.Int.pipe(Schema.greaterThanOrEqualTo(0))

/** What a source remembers about the rows behind its cursor, committed with the cursor. */
export const LateState = Schema.Struct({
  /** Milliseconds per fine bucket. */
  width: Schema.Int.pipe(Schema.greaterThanOrEqualTo(1)),
  /** Index (`floor(ms / width)`) of the bucket `counts[0]` counts. */
  origin: Schema.Int,
  /** Rows delivered per fine bucket, from `origin` up to the cursor's bucket. */
  counts: Schema.Array(Count),
  /** The store's mark the counts are current for (see `StoreTime.mark`): rows stored before it were seen. */
  mark: Schema.optional(Schema.String),
  /** The coarse buckets behind the fine ones. */
  audit: Schema.optional(
    Schema.Struct({
      /** Coarse index (`floor(ms / (width * BUCKETS_PER_WINDOW))`) of `counts[0]`. */
      origin: Schema.Int,
      counts: Schema.Array(Count),
      /** The store's clock at the last audit (none yet: one is due). */
      at: Schema.optional(Timestamp.Timestamp)
    })
  )
}).annotations({ identifier: "LateState" })
export type LateState = typeof LateState.Type

/** Reads a committed state; undefined when there is none or it is not one (then tracking starts afresh). */
export const decodeLateState = (state: unknown): LateState | undefined =>
  state === undefined ? undefined : Either.getOrUndefined(Schema.decodeUnknownEither(LateState)(state))

/** The fine bucket width for a late window: about BUCKETS_PER_WINDOW buckets across it. */
export const widthFor = (lateWindow: Duration.Duration): number => Math.max(1, Math.round(Duration.toMillis(lateWindow) / BUCKETS_PER_WINDOW))

/** Whether a committed width still suits a late window (else tracking starts afresh with `widthFor`). */
export const widthSuits = (width: number, lateWindow: Duration.Duration): boolean => {
  const buckets = Duration.toMillis(lateWindow) / width
  return buckets >= BUCKETS_PER_WINDOW / 10 && buckets <= BUCKETS_PER_WINDOW * 10
}

export const millisOf = (timestamp: Timestamp.Timestamp): number => Date.parse(timestamp.slice(0, 23) + "Z")

/** A bucket count as a store reports it: the bucket's index and its rows. */
export interface BucketCount {
  readonly bucket: number
  readonly rows: number
}

/** A fine bucket whose recount differs from what was delivered. */
export interface Growth {
  readonly bucket: number
  readonly delivered: number
  readonly counted: number
}

/** Coarse buckets that grew at an audit: rows that came too late to export. */
export interface Missed {
  readonly from: Timestamp.Timestamp
  readonly before: Timestamp.Timestamp
  readonly rows: number
}

/**
 * The counts of one pass, kept up to date as pages are read. Mutable and private to a pass: the engine only
 * ever sees `snapshot()`s.
 */
export class LateBook {
  readonly coarseWidth: number
  private origin: number | undefined
  private counts: Array<number>
  private auditOrigin: number | undefined
  private auditCounts: Array<number>
  private auditAt: Timestamp.Timestamp | undefined
  // The bucket the last row fell in, and the text bounds of that bucket: rows come sorted, so most rows are
  // placed by two string comparisons instead of a date parse.
  private lastBucket = Number.NaN
  private lastStart = ""
  private lastEnd = ""

  private constructor(
    readonly width: number,
    private readonly windowMs: number,
    state: LateState | undefined
  ) {
    this.coarseWidth = width * BUCKETS_PER_WINDOW
    this.origin = state?.origin
    this.counts = state === undefined ? [] : [...state.counts]
    this.auditOrigin = state?.audit?.origin
    this.auditCounts = state?.audit === undefined ? [] : [...state.audit.counts]
    this.auditAt = state?.audit?.at
  }

  /** A book with nothing delivered yet (a pipeline's first read). */
  static empty(lateWindow: Duration.Duration): LateBook {
    return new LateBook(widthFor(lateWindow), Duration.toMillis(lateWindow), undefined)
  }

  static resume(state: LateState, lateWindow: Duration.Duration): LateBook {
    return new LateBook(state.width, Duration.toMillis(lateWindow), state)
  }

  /** A book whose baseline is what the store holds now, up to `through` (a checkpoint that had no counts). */
  static baseline(lateWindow: Duration.Duration, counted: ReadonlyArray<BucketCount>, through: Timestamp.Timestamp): LateBook {
    const book = LateBook.empty(lateWindow)
    const last = book.bucketOfMillis(millisOf(through))
    book.origin = book.bucketOfMillis(millisOf(through) - book.windowMs)
    book.counts = new Array<number>(last - book.origin + 1).fill(0)
    for (const { bucket, rows } of counted) if (bucket >= book.origin && bucket <= last) book.counts[bucket - book.origin] = rows
    return book
  }

  bucketOfMillis(ms: number): number {
    return Math.floor(ms / this.width)
  }

  bucketStart(bucket: number): Timestamp.Timestamp {
    return Timestamp.fromMillis(bucket * this.width)
  }

  /** The start of the oldest fine bucket, or undefined before any row was delivered. */
  fineStart(): Timestamp.Timestamp | undefined {
    return this.origin === undefined ? undefined : this.bucketStart(this.origin)
  }

  /** The start of the oldest coarse bucket, or undefined before any fine bucket was retired. */
  auditStart(): Timestamp.Timestamp | undefined {
    return this.auditOrigin === undefined ? undefined : Timestamp.fromMillis(this.auditOrigin * this.coarseWidth)
  }

  /** Counts delivered rows, given their timestamps in cursor order. */
  add(times: ReadonlyArray<Timestamp.Timestamp>): void {
    for (const time of times) {
      let bucket: number
      if (time >= this.lastStart && time < this.lastEnd) {
        bucket = this.lastBucket
      } else {
        bucket = this.bucketOfMillis(millisOf(time))
        this.lastBucket = bucket
        this.lastStart = this.bucketStart(bucket)
        this.lastEnd = this.bucketStart(bucket + 1)
      }
      this.addTo(bucket, 1)
    }
  }

  private addTo(bucket: number, rows: number): void {
    if (this.origin === undefined) {
      this.origin = bucket
      this.counts = [0]
    }
    const end = this.origin + this.counts.length
    if (bucket >= end) {
      // A row far ahead (a quiet week): retire first, so the array never spans more than the window.
      this.retireBefore(bucket - Math.ceil(this.windowMs / this.width))
      const from = this.origin + this.counts.length
      for (let b = Math.max(from, this.origin); b <= bucket; b++) this.counts.push(0)
    }
    if (bucket < this.origin) return // behind the window: audited, not counted here
    this.counts[bucket - this.origin]! += rows
  }

  /** Moves the fine buckets older than `lateWindow` behind `cursor` into the coarse ones. */
  retire(cursor: Timestamp.Timestamp): void {
    this.retireBefore(this.bucketOfMillis(millisOf(cursor) - this.windowMs))
  }

  private retireBefore(bucket: number): void {
    if (this.origin === undefined || bucket <= this.origin) return
    const drop = Math.min(this.counts.length, bucket - this.origin)
    for (let i = 0; i < drop; i++) {
      const coarse = Math.floor((this.origin + i) / BUCKETS_PER_WINDOW)
      if (this.auditOrigin === undefined) this.auditOrigin = coarse
      while (coarse >= this.auditOrigin + this.auditCounts.length) this.auditCounts.push(0)
      if (coarse >= this.auditOrigin) this.auditCounts[coarse - this.auditOrigin]! += this.counts[i]!
    }
    this.counts = this.counts.slice(drop)
    this.origin = bucket
    // Keep AUDIT_BUCKETS coarse buckets behind the fine ones.
    if (this.auditOrigin !== undefined) {
      const keepFrom = Math.floor(bucket / BUCKETS_PER_WINDOW) - AUDIT_BUCKETS
      if (keepFrom > this.auditOrigin) {
        this.auditCounts = this.auditCounts.slice(Math.min(this.auditCounts.length, keepFrom - this.auditOrigin))
        this.auditOrigin = keepFrom
      }
    }
  }

  /**
   * Compares a recount of the fine buckets with what was delivered. Returns the buckets that grew; a bucket
   * that shrank (rows deleted, FeatBit's retention tool) takes the smaller count at once (`shrunk`).
   */
  compare(counted: ReadonlyArray<BucketCount>): { readonly grown: Array<Growth>; readonly shrunk: boolean } {
    const grown: Array<Growth> = []
    let shrunk = false
    if (this.origin === undefined) return { grown, shrunk }
    const now = new Map(counted.map(({ bucket, rows }) => [bucket, rows]))
    for (let i = 0; i < this.counts.length; i++) {
      const bucket = this.origin + i
      const delivered = this.counts[i]!
      const rows = now.get(bucket) ?? 0
      if (rows > delivered) grown.push({ bucket, delivered, counted: rows })
      else if (rows < delivered) {
        this.counts[i] = rows
        shrunk = true
      }
    }
    return { grown, shrunk }
  }

  /** Sets a fine bucket's delivered count (after it was read again). */
  settle(bucket: number, rows: number): void {
    if (this.origin !== undefined && bucket >= this.origin && bucket < this.origin + this.counts.length) this.counts[bucket - this.origin] = rows
  }

  /** Whether an audit is due at the store time `now`. */
  auditDue(now: Timestamp.Timestamp): boolean {
    if (this.auditOrigin === undefined) return false
    return this.auditAt === undefined || millisOf(now) - millisOf(this.auditAt) >= this.windowMs * AUDIT_EVERY
  }

  /** Compares a recount of the coarse buckets with what was delivered; returns the growth and takes it in. */
  audit(counted: ReadonlyArray<BucketCount>, now: Timestamp.Timestamp): Array<Missed> {
    this.auditAt = now
    if (this.auditOrigin === undefined) return []
    const missed: Array<Missed> = []
    const byBucket = new Map(counted.map(({ bucket, rows }) => [bucket, rows]))
    for (let i = 0; i < this.auditCounts.length; i++) {
      const coarse = this.auditOrigin + i
      const rows = byBucket.get(coarse) ?? 0
      const delivered = this.auditCounts[i]!
      if (rows > delivered) {
        missed.push({
          from: Timestamp.fromMillis(coarse * this.coarseWidth),
          before: Timestamp.fromMillis(Math.min((coarse + 1) * this.coarseWidth, (this.origin ?? Infinity) * this.width)),
          rows: rows - delivered
        })
      }
      this.auditCounts[i] = rows
    }
    return missed
  }

  snapshot(mark: string | undefined): LateState | undefined {
    if (this.origin === undefined) return undefined
    return {
      width: this.width,
      origin: this.origin,
      counts: [...this.counts],
      ...(mark === undefined ? {} : { mark }),
      ...(this.auditOrigin === undefined
        ? {}
        : { audit: { origin: this.auditOrigin, counts: [...this.auditCounts], ...(this.auditAt === undefined ? {} : { at: this.auditAt }) } })
    }
  }
}
