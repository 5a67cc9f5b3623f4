import * as path from "node:path"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { DeadLetterError } from "./Errors.js"
import type { ExportEvent } from "./Event.js"
import { appendDurably, errorText, toJson, writeFileAtomic } from "./internal/files.js"
import { type Scrubber, SecretScrubber, none } from "./Secrets.js"

/**
 * One record that could not be exported: a row the source could not decode, or an event the destination
 * refused for good. It keeps everything needed to fix and replay it.
 */
export interface DeadLetter {
  readonly at: string
  readonly pipeline: string
  /** Where it failed: the source could not decode it, an expression of the transform step failed, the sink refused it. */
  readonly stage: "source" | "transform" | "sink"
  readonly plugin: string
  readonly id: string | undefined
  readonly reason: string
  /** The canonical event: as the source gave it (transform failures), as the sink got it (sink rejections). */
  readonly event?: ExportEvent
  /** The stored row as read (source rejections). */
  readonly row?: unknown
}

/** Where dead letters go. `append` is durable when it returns: the cursor moves past them only then. */
export class DeadLetterStore extends Context.Tag("@featbit-export/core/DeadLetterStore")<
  DeadLetterStore,
  {
    readonly append: (pipeline: string, letters: ReadonlyArray<DeadLetter>) => Effect.Effect<void, DeadLetterError>
  }
>() {}

export const deadLetterFile = (dir: string, pipeline: string): string => path.join(dir, `${pipeline}.dead-letter.ndjson`)

/**
 * A letter as one JSON line. The reason, the event and the row are scrubbed: a far end's answer quoted in a
 * reason, or a row that holds what a proxy echoed, must not put a secret on disk. The letter's identity (its
 * time, pipeline, stage, plugin and id) is kept as it is, so it can still be found and replayed. Exported for
 * tools that write letters again (a replay keeps a refused event with its new reason).
 */
export const toLine = (letter: DeadLetter, scrubber: Scrubber = none): string => {
  if (scrubber === none) return toJson(letter)
  // Through JSON first: what a row holds (bigints, driver types with toJSON) is scrubbed as it is written.
  const { at, pipeline, stage, plugin, id, ...content } = JSON.parse(toJson(letter)) as DeadLetter
  return JSON.stringify({ at, pipeline, stage, plugin, id, ...scrubber.scrubValue(content) })
}

/** One NDJSON file per pipeline in `dir`, appended and fsynced; `scrubber` removes secrets first (default: none). */
export const makeFile = (dir: string, scrubber: Scrubber = none): Context.Tag.Service<DeadLetterStore> => ({
  append: (pipeline, letters) => {
    if (letters.length === 0) return Effect.void
    const file = deadLetterFile(dir, pipeline)
    return Effect.tryPromise({
      try: () => appendDurably(file, letters.map((letter) => toLine(letter, scrubber) + "\n").join("")),
      catch: (cause) =>
        new DeadLetterError({ message: `cannot write dead letters to ${file}: ${errorText(cause)}`, cause })
    })
  }
})

/**
 * Replaces `file` with `contents` atomically (temporary file, fsync, rename, fsync of the folder): a tool that
 * rewrites a dead-letter file (a replay removing what was delivered) or exports from it must leave, if it is
 * killed at any moment, the old contents or the new ones, never a torn file that lost letters.
 */
export const replaceFile = (file: string, contents: string): Effect.Effect<void, DeadLetterError> =>
  Effect.tryPromise({
    try: () => writeFileAtomic(file, contents),
    catch: (cause) => new DeadLetterError({ message: `cannot write ${file}: ${errorText(cause)}`, cause })
  })

/** `makeFile` with the `SecretScrubber` of the context, when there is one. */
export const layerFile = (dir: string): Layer.Layer<DeadLetterStore> =>
  Layer.effect(
    DeadLetterStore,
    Effect.map(Effect.serviceOption(SecretScrubber), (scrubber) => makeFile(dir, Option.getOrElse(scrubber, () => none)))
  )

export const makeMemory = (letters: Array<DeadLetter> = []): Context.Tag.Service<DeadLetterStore> => ({
  append: (_, more) => Effect.sync(() => void letters.push(...more))
})

export const layerMemory = (letters?: Array<DeadLetter>): Layer.Layer<DeadLetterStore> =>
  Layer.succeed(DeadLetterStore, makeMemory(letters))
