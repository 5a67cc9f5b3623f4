import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"

/**
 * A source failed to read. `retryable` says whether reading again from the last position may succeed
 * (network, server restart, timeout) or whether a person must fix something first (credentials, a
 * missing table). The message is one sentence a person can act on; secrets never go into it.
 */
export class SourceError extends Data.TaggedError("SourceError")<{
  readonly plugin: string
  readonly message: string
  readonly retryable: boolean
  readonly cause?: unknown
}> {
  static transient(plugin: string, message: string, cause?: unknown): SourceError {
    return new SourceError({ plugin, message, retryable: true, cause })
  }
  static fatal(plugin: string, message: string, cause?: unknown): SourceError {
    return new SourceError({ plugin, message, retryable: false, cause })
  }
}

/**
 * A sink could not deliver a batch. Transient failures (network, 5xx, 429, server busy) are retried by
 * the engine with backoff, honouring `retryAfter` when the destination said how long to wait; fatal ones
 * (bad credentials, an unknown destination) stop the pipeline with the message.
 */
export class SinkError extends Data.TaggedError("SinkError")<{
  readonly plugin: string
  readonly message: string
  readonly retryable: boolean
  readonly retryAfter?: Duration.Duration | undefined
  readonly cause?: unknown
}> {
  static transient(
    plugin: string,
    message: string,
    options: { readonly cause?: unknown; readonly retryAfter?: Duration.Duration | undefined } = {}
  ): SinkError {
    return new SinkError({ plugin, message, retryable: true, retryAfter: options.retryAfter, cause: options.cause })
  }
  static fatal(plugin: string, message: string, cause?: unknown): SinkError {
    return new SinkError({ plugin, message, retryable: false, cause })
  }
}

/** The checkpoint store could not load or save a cursor. Never retried silently: a lost cursor means duplicates. */
export class CheckpointError extends Data.TaggedError("CheckpointError")<{
  readonly message: string
  readonly cause?: unknown
  /**
   * A shared store refused the commit: another runner claimed the pipeline since this one did (a newer
   * epoch). Nothing more may be written for it here; the pipeline stops.
   */
  readonly fenced?: boolean
}> {}

/** The dead-letter file could not be written: the pipeline stops rather than drop the records. */
export class DeadLetterError extends Data.TaggedError("DeadLetterError")<{
  readonly message: string
  readonly cause?: unknown
  /** A shared store refused the letters: another runner claimed the pipeline since this one did. */
  readonly fenced?: boolean
}> {}

/**
 * More rows were dead-lettered than the pipeline's `deadLetters` limit allows: something is wrong with the
 * destination or the data as a whole, not with a few events. The batch that crossed the limit is not
 * committed, so nothing is lost.
 */
export class DeadLetterLimitError extends Data.TaggedError("DeadLetterLimitError")<{
  readonly message: string
}> {}

/** One problem in a pipeline file, located as precisely as the file allows. */
export interface ConfigIssue {
  readonly path: ReadonlyArray<string | number>
  readonly message: string
  readonly line?: number | undefined
  readonly column?: number | undefined
}

/** A pipeline file (or a command line) is invalid. Carries every problem found, each with its location. */
export class ConfigError extends Data.TaggedError("ConfigError")<{
  readonly file: string
  readonly issues: ReadonlyArray<ConfigIssue>
}> {
  override get message(): string {
    return formatConfigIssues(this.file, this.issues)
  }
}

export const formatPath = (path: ReadonlyArray<string | number>): string =>
  path.reduce<string>(
    (out, key) => (typeof key === "number" ? `${out}[${key}]` : out === "" ? key : `${out}.${key}`),
    ""
  )

export const formatConfigIssues = (file: string, issues: ReadonlyArray<ConfigIssue>): string =>
  issues
    .map((issue) => {
      const where = issue.line === undefined ? file : `${file}:${issue.line}:${issue.column ?? 1}`
      const key = issue.path.length === 0 ? "" : ` ${formatPath(issue.path)}:`
      return `${where}:${key} ${issue.message}`
    })
    .join("\n")

/** A pipeline stopped: which one, and the failure that stopped it. */
export class PipelineError extends Data.TaggedError("PipelineError")<{
  readonly pipeline: string
  readonly reason: SourceError | SinkError | CheckpointError | DeadLetterError | DeadLetterLimitError
}> {
  override get message(): string {
    const r = this.reason
    const who =
      r._tag === "SourceError"
        ? `source ${r.plugin}`
        : r._tag === "SinkError"
          ? `sink ${r.plugin}`
          : r._tag === "CheckpointError"
            ? "checkpoint store"
            : r._tag === "DeadLetterError"
              ? "dead-letter file"
              : "dead letters"
    return `pipeline ${this.pipeline}: ${who}: ${r.message}`
  }
}
