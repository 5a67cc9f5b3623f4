import { ConfigError, Cursor, type PipelineFile } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Args } from "../Args.js"
import type { Output } from "../Output.js"
import * as PipelineLock from "../PipelineLock.js"
import { loadFile, selectPipelines } from "../Pipelines.js"
import { openState } from "../State.js"

/** `featbit-export checkpoints`: shows committed cursors, or forgets them with --reset. */
export const checkpointsCommand = (args: Args, registry: PipelineFile.PluginRegistry, output: Output): Effect.Effect<number, ConfigError> =>
  Effect.gen(function* () {
    const file = yield* loadFile(args, registry)
    if (args.reset && args.pipelines.length === 0 && !args.all) {
      return yield* Effect.fail(
        new ConfigError({ file: "command line", issues: [{ path: [], message: "--reset forgets where pipelines stopped: name them with --pipeline NAME, or pass --all" }] })
      )
    }
    const selected = yield* selectPipelines(file, args.pipelines)
    const opened = yield* Effect.either(openState(file, output.scrubber))
    if (opened._tag === "Left") {
      output.report(`featbit-export: ${opened.left.message}`, { level: "error", message: opened.left.message })
      return 1
    }
    const state = opened.right
    const store = state.checkpoints
    let failures = 0
    for (const pipeline of selected) {
      if (args.reset) {
        // Under the pipeline's lock: a runner still exporting it would commit its cursor again right after. A
        // shared state needs none: the reset bumps the epoch, so a runner exporting it is fenced and starts over.
        const result = yield* (state.shared ? store.reset(pipeline.name) : PipelineLock.hold(file.stateDir, pipeline.name).pipe(Effect.zipRight(store.reset(pipeline.name)), Effect.scoped)).pipe(
          Effect.either
        )
        if (result._tag === "Left") {
          failures += 1
          output.report(`featbit-export: ${result.left.message}`, { level: "error", pipeline: pipeline.name, message: result.left.message })
          continue
        }
        const text = result.right ? "checkpoint removed; the next run starts from the beginning" : "had no checkpoint"
        output.report(`${pipeline.name}: ${text}`, { pipeline: pipeline.name, message: "reset", removed: result.right })
        continue
      }
      const result = yield* Effect.either(store.load(pipeline.name))
      if (result._tag === "Left") {
        failures += 1
        output.report(`featbit-export: ${result.left.message}`, { level: "error", pipeline: pipeline.name, message: result.left.message })
        continue
      }
      const saved = Option.getOrUndefined(result.right)
      output.report(
        saved === undefined
          ? `${pipeline.name}: no checkpoint yet (the next run starts from the beginning)`
          : `${pipeline.name}: cursor ${Cursor.format(saved.cursor)}, committed ${saved.committedAt}, ${saved.exported} exported (${saved.late ?? 0} of them late), ${saved.deadLettered} dead-lettered and ${saved.missed ?? 0} found too late to export` +
              (saved.filtered === undefined ? "" : `, ${saved.filtered} filtered out`) +
              (saved.unenriched === undefined ? "" : `, ${saved.unenriched} flag evaluations exported without their flag's values (unknown flags)`) +
              ", in all",
        { pipeline: pipeline.name, message: "checkpoint", checkpoint: saved ?? null }
      )
    }
    return failures === 0 ? 0 : 1
  }).pipe(Effect.scoped)
