import * as fs from "node:fs/promises"
import { DeadLetterError, ExportEvent } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"

/**
 * A dead-letter file as the `dead-letters` command reads it: core writes it (`DeadLetter.makeFile`), one JSON
 * record per line. Every line is kept as its text, so a rewrite (a replay) puts back, byte for byte, what it
 * did not replay, including lines it cannot read: a line torn by a crash is evidence, not rubbish.
 */

/** One stored letter, as `DeadLetter.toLine` writes it (`id` is left out when the row had none). */
export const StoredLetter = Schema.Struct({
  at: Schema.String,
  pipeline: Schema.String,
  stage: Schema.Literal("source", "transform", "sink"),
  plugin: Schema.String,
  id: Schema.optional(Schema.NullOr(Schema.String)),
  reason: Schema.String,
  event: Schema.optional(Schema.Unknown),
  row: Schema.optional(Schema.Unknown)
})
export type StoredLetter = typeof StoredLetter.Type

/** One line of the file: its text, and the letter when the line is one. */
export interface Entry {
  readonly text: string
  readonly letter: StoredLetter | undefined
}

const decodeLetter = Schema.decodeUnknownEither(Schema.parseJson(StoredLetter))
// Fields a transform added (`set:` of a new field) are part of the event the sink refused: kept.
const decodeEvent = Schema.decodeUnknownEither(ExportEvent, { onExcessProperty: "preserve" })

export const parseEntries = (text: string): ReadonlyArray<Entry> =>
  text
    .split("\n")
    // The empty piece after the last newline, and the blank line a torn append is followed by, are no letters.
    .filter((line) => line.trim() !== "")
    .map((line) => ({ text: line, letter: Either.getOrUndefined(decodeLetter(line)) }))

/** The file's lines; none when there is no file (a pipeline that never dead-lettered). */
export const readEntries = (file: string): Effect.Effect<ReadonlyArray<Entry>, DeadLetterError> =>
  Effect.tryPromise({
    try: () =>
      fs.readFile(file, "utf8").then(parseEntries, (error: NodeJS.ErrnoException) => (error.code === "ENOENT" ? [] : Promise.reject(error))),
    catch: (cause) => new DeadLetterError({ message: `cannot read ${file}: ${cause instanceof Error ? cause.message : String(cause)}`, cause })
  })

/** The file's text for these lines. */
export const renderEntries = (entries: ReadonlyArray<Entry>): string => entries.map((entry) => entry.text + "\n").join("")

/**
 * The event of a sink-stage letter (refused by the sink) or a transform-stage one (an expression failed on
 * it), when it is one that can be sent again.
 */
export const replayableEvent = (entry: Entry): ExportEvent | undefined =>
  (entry.letter?.stage === "sink" || entry.letter?.stage === "transform") && entry.letter.event !== undefined
    ? Either.getOrUndefined(decodeEvent(entry.letter.event))
    : undefined

/** How long a reason may be in a summary: enough for the cause, not for the quoted body that follows it. */
export const REASON_LENGTH = 120

export const cutReason = (reason: string): string => {
  const flat = reason.replace(/\s+/g, " ").trim()
  return flat.length <= REASON_LENGTH ? flat : flat.slice(0, REASON_LENGTH - 1) + "…"
}

type Stage = StoredLetter["stage"]

export interface ReasonCount {
  readonly stage: Stage
  readonly reason: string
  readonly count: number
}

export interface Summary {
  readonly total: number
  readonly source: number
  readonly transform: number
  readonly sink: number
  /** Lines that are not letters (a line torn by a crash). */
  readonly unreadable: number
  /** Most frequent first. */
  readonly reasons: ReadonlyArray<ReasonCount>
}

/**
 * Counts by stage and by reason. Reasons are grouped as they are shown, cut: two refusals that differ only
 * past the first 120 characters (the request body a server quoted) have one cause, and counting them apart
 * would hide it among thousands of groups of one.
 */
export const summarize = (entries: ReadonlyArray<Entry>): Summary => {
  const groups = new Map<string, { stage: Stage; reason: string; count: number; first: number }>()
  let source = 0
  let transform = 0
  let sink = 0
  let unreadable = 0
  entries.forEach((entry, i) => {
    const letter = entry.letter
    if (letter === undefined) return void (unreadable += 1)
    if (letter.stage === "source") source += 1
    else if (letter.stage === "transform") transform += 1
    else sink += 1
    const reason = cutReason(letter.reason)
    const key = `${letter.stage}\u0000${reason}`
    const group = groups.get(key)
    if (group === undefined) groups.set(key, { stage: letter.stage, reason, count: 1, first: i })
    else group.count += 1
  })
  // Ties keep the file's order, so the same file always reads the same.
  const reasons = [...groups.values()].sort((a, b) => b.count - a.count || a.first - b.first).map(({ stage, reason, count }) => ({ stage, reason, count }))
  return { total: source + transform + sink + unreadable, source, transform, sink, unreadable, reasons }
}
