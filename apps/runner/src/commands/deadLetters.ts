import * as path from "node:path"
import { ConfigError, DeadLetter, type PipelineFile } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import type { Args } from "../Args.js"
import { type Summary, summarize } from "../DeadLetterFile.js"
import { emptyTally, replay } from "../DeadLetterReplay.js"
import { type Output, formatCount } from "../Output.js"
import { loadFile, selectPipelines } from "../Pipelines.js"
import { openState } from "../State.js"

/** Reasons listed per pipeline: past these, the rest are counted, so a summary stays a summary. */
const MAX_REASONS = 20

const usageError = (message: string) => new ConfigError({ file: "command line", issues: [{ path: [], message }] })

const plural = (n: number, word: string) => `${formatCount(n)} ${word}${n === 1 ? "" : "s"}`

/** The dead-letter file as a person reads its name: relative to where they are, as `run` names it. */
const shown = (file: string) => path.relative(process.cwd(), file)

const summaryText = (pipeline: string, file: string, summary: Summary): string => {
  if (summary.total === 0) return `${pipeline}: no dead letters (${file})`
  const head =
    `${pipeline}: ${plural(summary.total, "dead letter")} in ${file}: ` +
    `${formatCount(summary.source)} from the source (rows it could not decode), ` +
    (summary.transform === 0 ? "" : `${formatCount(summary.transform)} from the transform (events an expression failed on), `) +
    `${formatCount(summary.sink)} from the sink (events it refused)` +
    (summary.unreadable === 0 ? "" : `, ${plural(summary.unreadable, "unreadable line")}`)
  const reasons = summary.reasons.slice(0, MAX_REASONS).map(({ stage, reason, count }) => `  ${formatCount(count).padStart(7)}  ${stage.padEnd(9)}  ${reason}`)
  const more = summary.reasons.length - MAX_REASONS
  return [head, ...reasons, ...(more > 0 ? [`  and ${plural(more, "other reason")}`] : [])].join("\n")
}

/**
 * `featbit-export dead-letters`: what went to each pipeline's dead-letter file, and what to do with it:
 * counts by stage and reason (the default), the first records (`--show`), the refused events sent again
 * (`--replay`), or the rows the source could not decode written out for a fix (`--export`).
 */
export const deadLettersCommand = (args: Args, registry: PipelineFile.PluginRegistry, output: Output): Effect.Effect<number, ConfigError> =>
  Effect.gen(function* () {
    const actions = [args.show !== undefined && "--show", args.replay && "--replay", args.exportTo !== undefined && "--export"].filter((a) => a !== false)
    if (actions.length > 1) return yield* Effect.fail(usageError(`${actions.join(" and ")} do different things: give one of them`))
    if (args.replay && args.pipelines.length === 0 && !args.all) {
      return yield* Effect.fail(usageError("--replay sends dead letters to a destination again: name the pipeline with --pipeline NAME, or pass --all"))
    }
    const file = yield* loadFile(args, registry)
    const selected = yield* selectPipelines(file, args.pipelines)
    if (args.exportTo !== undefined && selected.length !== 1) {
      return yield* Effect.fail(usageError(`--export writes the rows of one pipeline: name it with --pipeline NAME (the file has ${selected.length})`))
    }
    const opened = yield* Effect.either(openState(file, output.scrubber))
    if (opened._tag === "Left") {
      output.report(`featbit-export: ${opened.left.message}`, { level: "error", message: opened.left.message })
      return 1
    }
    const state = opened.right
    let failures = 0
    const fail = (pipeline: string, message: string) => {
      failures += 1
      output.report(`featbit-export: ${message}`, { level: "error", pipeline, message })
    }

    for (const pipeline of selected) {
      const box = state.letters(pipeline.name)
      // A file as a person reads its name (relative to where they are); the shared state's table as it is.
      const letters = state.shared ? box.where : shown(box.where)

      if (args.replay) {
        const tally = emptyTally()
        const result = yield* Effect.either(Effect.scoped(replay({ file, pipeline, registry, scrubber: output.scrubber, tally, letters: box, shared: state.shared })))
        const record = { pipeline: pipeline.name, file: box.where, sent: tally.sent, delivered: tally.delivered, refused: tally.refused, filtered: tally.filtered, failed: tally.failed, untouched: tally.untouched }
        if (result._tag === "Left") {
          const error = result.left
          const cause = error._tag === "SinkError" ? `sink ${error.plugin}: ${error.message}` : error.message
          const done = tally.sent === 0 ? "" : `; ${formatCount(tally.delivered)} were delivered before that and left the file`
          const message =
            error._tag === "PipelineLockError"
              ? `${error.message}; its dead letters were not replayed`
              : `pipeline ${pipeline.name}: replay of its dead letters stopped: ${cause}${done}; the rest are still in ${letters}`
          failures += 1
          output.report(`featbit-export: ${message}`, { level: "error", ...record, message })
          continue
        }
        output.report(
          tally.sent + tally.filtered + tally.failed === 0
            ? `${pipeline.name}: no refused events to replay in ${letters}${tally.untouched === 0 ? "" : ` (${plural(tally.untouched, "other line")} left as they were)`}`
            : `${pipeline.name}: sent ${plural(tally.sent, "dead-lettered event")} through sink ${pipeline.sink.type} again: ${formatCount(tally.delivered)} delivered and removed from ${letters}, ` +
                `${formatCount(tally.refused)} refused again (kept, with the new reason)` +
                (tally.filtered === 0 ? "" : `; ${formatCount(tally.filtered)} the filter now leaves out (removed)`) +
                (tally.failed === 0 ? "" : `; ${formatCount(tally.failed)} an expression still fails on (kept, with the new reason)`) +
                (tally.untouched === 0 ? "" : `; ${plural(tally.untouched, "other line")} (source-stage letters) left as they were`),
          { message: "replayed", ...record }
        )
        continue
      }

      const read = yield* Effect.either(box.read)
      if (read._tag === "Left") {
        fail(pipeline.name, `pipeline ${pipeline.name}: ${read.left.message}`)
        continue
      }
      const entries = read.right

      if (args.show !== undefined) {
        // Stored scrubbed; scrubbed again with the file's secrets of today, as everything the runner writes is.
        for (const entry of entries.slice(0, args.show)) process.stdout.write(output.scrubber.scrub(entry.text) + "\n")
        const count = Math.min(args.show, entries.length)
        output.report(`${pipeline.name}: the first ${plural(count, "dead letter")} of ${formatCount(entries.length)} in ${letters}`, {
          pipeline: pipeline.name,
          message: "shown",
          file: box.where,
          shown: count,
          total: entries.length
        })
        continue
      }

      if (args.exportTo !== undefined) {
        const target = path.resolve(args.exportTo)
        const rows = entries.flatMap((entry) => (entry.letter?.stage === "source" && entry.letter.row !== undefined ? [JSON.stringify(entry.letter.row)] : []))
        const written = yield* Effect.either(DeadLetter.replaceFile(target, rows.map((row) => output.scrubber.scrub(row) + "\n").join("")))
        if (written._tag === "Left") {
          fail(pipeline.name, `pipeline ${pipeline.name}: ${written.left.message}`)
          continue
        }
        output.report(`${pipeline.name}: wrote ${plural(rows.length, "row")} the source could not decode to ${shown(target)}`, {
          pipeline: pipeline.name,
          message: "exported",
          file: box.where,
          to: target,
          rows: rows.length
        })
        continue
      }

      const summary = summarize(entries)
      output.report(summaryText(pipeline.name, letters, summary), {
        pipeline: pipeline.name,
        message: "dead-letters",
        file: box.where,
        total: summary.total,
        byStage: { source: summary.source, transform: summary.transform, sink: summary.sink },
        unreadable: summary.unreadable,
        reasons: summary.reasons.slice(0, MAX_REASONS),
        otherReasons: Math.max(0, summary.reasons.length - MAX_REASONS)
      })
    }
    return failures === 0 ? 0 : 1
  }).pipe(Effect.scoped)
