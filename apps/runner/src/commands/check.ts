import type { ConfigError, PipelineFile, SinkError, SourceError } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { Args } from "../Args.js"
import type { Output } from "../Output.js"
import { loadFile, openSink, openSource, selectPipelines } from "../Pipelines.js"

/** `featbit-export check`: opens every source and sink, runs their checks, and says what works. */
export const checkCommand = (args: Args, registry: PipelineFile.PluginRegistry, output: Output): Effect.Effect<number, ConfigError> =>
  Effect.gen(function* () {
    const file = yield* loadFile(args, registry)
    const selected = yield* selectPipelines(file, args.pipelines)
    let failures = 0
    for (const pipeline of selected) {
      const sides: ReadonlyArray<{ side: string; type: string; check: Effect.Effect<ReadonlyArray<string>, SourceError | SinkError, Scope.Scope> }> = [
        { side: "source", type: pipeline.source.type, check: openSource(file, pipeline, registry).pipe(Effect.flatMap((s) => s.check ?? Effect.succeed(["opened"]))) },
        { side: "sink", type: pipeline.sink.type, check: openSink(file, pipeline, registry).pipe(Effect.flatMap((s) => s.check ?? Effect.succeed(["opened"]))) }
      ]
      for (const { side, type, check } of sides) {
        const result = yield* Effect.either(Effect.scoped(check))
        if (result._tag === "Right") {
          output.report(`ok    ${pipeline.name} ${side} ${type}: ${result.right.join("; ")}`, { pipeline: pipeline.name, side, type, ok: true, message: result.right.join("; ") })
        } else {
          failures += 1
          output.report(`FAIL  ${pipeline.name} ${side} ${type}: ${result.left.message}`, { level: "error", pipeline: pipeline.name, side, type, ok: false, message: result.left.message })
        }
      }
    }
    return failures === 0 ? 0 : 1
  })
