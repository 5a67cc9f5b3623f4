import * as fs from "node:fs/promises"
import * as path from "node:path"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { Cursor } from "./Cursor.js"
import { CheckpointError, formatPath } from "./Errors.js"
import { errorText, writeFileAtomic } from "./internal/files.js"
import { schemaIssues } from "./internal/schemaMessages.js"
import { type Scrubber, SecretScrubber, none } from "./Secrets.js"
import { Selection } from "./Selection.js"

/** The version `save` writes. Version 1 (no state, no selection, no late totals) is still read. */
export const CHECKPOINT_VERSION = 2

/**
 * What a pipeline has delivered: its cursor (with the source's own state, such as late-row counts), the
 * selection the cursor is a position in, and running totals kept across runs.
 */
export const Checkpoint = Schema.Struct({
  version: Schema.Literal(1, 2),
  pipeline: Schema.String,
  cursor: Cursor,
  /** The source's `SourcePage.state` of the committed page. */
  state: Schema.optional(Schema.Unknown),
  /** What the source selected when the cursor was committed (`Source.selection`). */
  selection: Schema.optional(Selection),
  committedAt: Schema.String,
  exported: Schema.Number,
  deadLettered: Schema.Number,
  /** Rows delivered after landing behind the cursor. */
  late: Schema.optional(Schema.Number),
  /** Rows found too late to export (reported, not delivered). */
  missed: Schema.optional(Schema.Number),
  /** Events the pipeline's filter left out. */
  filtered: Schema.optional(Schema.Number),
  /** Flag evaluations exported without their flag's name and value (enrichment did not know the flag). */
  unenriched: Schema.optional(Schema.Number)
}).annotations({ identifier: "Checkpoint" })
export type Checkpoint = typeof Checkpoint.Type

/**
 * Where pipelines keep their cursors, one entry per pipeline name. Small on purpose, so that a shared
 * store (PostgreSQL, Redis) can back several runners.
 */
export class CheckpointStore extends Context.Tag("@featbit-export/core/CheckpointStore")<
  CheckpointStore,
  {
    readonly load: (pipeline: string) => Effect.Effect<Option.Option<Checkpoint>, CheckpointError>
    /**
     * A shared store's `load` for the pipeline that is about to run: it takes the pipeline over in the same
     * step (a newer epoch), so that saves of any earlier claim (a runner paused, then resumed) are refused
     * with a fenced `CheckpointError`. The engine calls it, where there is one, instead of `load`.
     */
    readonly claim?: (pipeline: string) => Effect.Effect<Option.Option<Checkpoint>, CheckpointError>
    /** Durable when it returns. */
    readonly save: (checkpoint: Checkpoint) => Effect.Effect<void, CheckpointError>
    /** Forgets a pipeline's cursor; true when there was one. */
    readonly reset: (pipeline: string) => Effect.Effect<boolean, CheckpointError>
  }
>() {}

const decodeFields = Schema.decodeUnknownEither(Checkpoint)

/** A checkpoint file's text, decoded, or what is wrong with it in a person's words (not the schema's). */
const decodeCheckpoint = (text: string): Either.Either<Checkpoint, string> => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    return Either.left(text.trim() === "" ? "it is empty" : `it is not valid JSON: ${errorText(error)}`)
  }
  return Either.mapLeft(decodeFields(json), (error) => {
    const first = schemaIssues(error.issue)[0]
    return first === undefined ? "it is not a checkpoint" : `${first.path.length === 0 ? "" : `${formatPath(first.path.map((key) => (typeof key === "number" ? key : String(key))))}: `}${first.message}`
  })
}

/** The file a pipeline's checkpoint lives in. */
export const checkpointFile = (dir: string, pipeline: string): string => path.join(dir, `${pipeline}.checkpoint.json`)

/**
 * What a source keeps beside its cursor (`state`, `selection`) is scrubbed before it is written. The cursor,
 * the name and the totals are not: they are positions and counts, and masking a coincidence in them would
 * make the checkpoint unreadable.
 */
export const scrubbed = (checkpoint: Checkpoint, scrubber: Scrubber): Checkpoint =>
  scrubber === none
    ? checkpoint
    : {
        ...checkpoint,
        ...(checkpoint.state === undefined ? {} : { state: scrubber.scrubValue(checkpoint.state) }),
        ...(checkpoint.selection === undefined ? {} : { selection: scrubber.scrubValue(checkpoint.selection) })
      }

/**
 * One JSON file per pipeline in `dir`, replaced atomically (temporary file, fsync, rename, fsync of the
 * folder), so a crash at any moment leaves the previous or the new cursor, never a torn file. `scrubber`
 * removes secrets from what is saved (default: none).
 */
export const makeFile = (dir: string, scrubber: Scrubber = none): Context.Tag.Service<CheckpointStore> => ({
  load: (pipeline) => {
    const file = checkpointFile(dir, pipeline)
    return Effect.tryPromise({
      try: () => fs.readFile(file, "utf8"),
      catch: (cause) => cause
    }).pipe(
      Effect.map(Option.some),
      Effect.catchIf(
        (cause) => (cause as NodeJS.ErrnoException)?.code === "ENOENT",
        () => Effect.succeed(Option.none<string>())
      ),
      Effect.mapError(
        (cause) => new CheckpointError({ message: `cannot read checkpoint ${file}: ${errorText(cause)}`, cause })
      ),
      Effect.flatMap(
        Option.match({
          onNone: () => Effect.succeed(Option.none<Checkpoint>()),
          onSome: (text) =>
            Either.match(decodeCheckpoint(text), {
              onLeft: (issue) =>
                Effect.fail(
                  new CheckpointError({
                    message: `checkpoint ${file} is damaged (${issue}); restore it, or reset the pipeline with "featbit-export checkpoints <file> --reset --pipeline ${pipeline}" to export from the start`,
                    cause: issue
                  })
                ),
              onRight: (checkpoint) => Effect.succeed(Option.some(checkpoint))
            })
        })
      )
    )
  },
  save: (checkpoint) => {
    const file = checkpointFile(dir, checkpoint.pipeline)
    return Effect.tryPromise({
      try: () => writeFileAtomic(file, JSON.stringify(scrubbed(checkpoint, scrubber), null, 2) + "\n"),
      catch: (cause) => new CheckpointError({ message: `cannot write checkpoint ${file}: ${errorText(cause)}`, cause })
    })
  },
  reset: (pipeline) => {
    const file = checkpointFile(dir, pipeline)
    return Effect.tryPromise({
      try: () =>
        fs.rm(file).then(
          () => true,
          (error: NodeJS.ErrnoException) => (error.code === "ENOENT" ? false : Promise.reject(error))
        ),
      catch: (cause) => new CheckpointError({ message: `cannot remove checkpoint ${file}: ${errorText(cause)}`, cause })
    })
  }
})

/** `makeFile` with the `SecretScrubber` of the context, when there is one. */
export const layerFile = (dir: string): Layer.Layer<CheckpointStore> =>
  Layer.effect(
    CheckpointStore,
    Effect.map(Effect.serviceOption(SecretScrubber), (scrubber) => makeFile(dir, Option.getOrElse(scrubber, () => none)))
  )

/** Keeps checkpoints in memory (tests, previews). `entries` lets a test look at what was committed. */
export const makeMemory = (entries: Map<string, Checkpoint> = new Map()): Context.Tag.Service<CheckpointStore> => ({
  load: (pipeline) => Effect.sync(() => Option.fromNullable(entries.get(pipeline))),
  save: (checkpoint) => Effect.sync(() => void entries.set(checkpoint.pipeline, checkpoint)),
  reset: (pipeline) => Effect.sync(() => entries.delete(pipeline))
})

export const layerMemory = (entries?: Map<string, Checkpoint>): Layer.Layer<CheckpointStore> =>
  Layer.succeed(CheckpointStore, makeMemory(entries))
