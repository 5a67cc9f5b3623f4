import { CheckpointStore, ConfigError, Cursor, type PipelineFile } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Args } from "../Args.js"
import type { Output } from "../Output.js"
import { loadFile, selectPipelines } from "../Pipelines.js"

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
    const store = CheckpointStore.makeFile(file.stateDir)
    let failures = 0
    for (const pipeline of selected) {
      const result = yield* Effect.either(args.reset ? store.reset(pipeline.name).pipe(Effect.map((had) => ({ reset: had }))) : store.load(pipeline.name).pipe(Effect.map((saved) => ({ saved }))))
      if (result._tag === "Left") {
        failures += 1
        output.report(`featbit-export: ${result.left.message}`, { level: "error", pipeline: pipeline.name, message: result.left.message })
      } else if ("reset" in result.right) {
        const text = result.right.reset ? "checkpoint removed; the next run starts from the beginning" : "had no checkpoint"
        output.report(`${pipeline.name}: ${text}`, { pipeline: pipeline.name, message: "reset", removed: result.right.reset })
      } else {
        const saved = Option.getOrUndefined(result.right.saved)
        output.report(
          saved === undefined
            ? `${pipeline.name}: no checkpoint yet (the next run starts from the beginning)`
            : `${pipeline.name}: cursor ${Cursor.format(saved.cursor)}, committed ${saved.committedAt}, ${saved.exported} exported and ${saved.deadLettered} dead-lettered in all`,
          { pipeline: pipeline.name, message: "checkpoint", checkpoint: saved ?? null }
        )
      }
    }
    return failures === 0 ? 0 : 1
  })
