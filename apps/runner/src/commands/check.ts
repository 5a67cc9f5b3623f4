import type { ConfigError, PipelineFile, SinkError, SourceError } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { Args } from "../Args.js"
import type { Output } from "../Output.js"
import { checkCatalogue, openCatalogue } from "@featbit-export/enrich-flags"
import { loadFile, openSink, openSource, selectPipelines } from "../Pipelines.js"

/** The source's `envIds` filter, where its type has one. */
const envIdsOf = (source: unknown): ReadonlyArray<string> | undefined => {
  const envIds = (source as { readonly envIds?: unknown }).envIds
  return Array.isArray(envIds) && envIds.every((id) => typeof id === "string") ? envIds : undefined
}

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
      const enrich = pipeline.enrich
      const withEnrich =
        enrich === undefined
          ? sides
          : [
              ...sides,
              {
                side: "enrich",
                type: enrich.flags.type,
                check: openCatalogue(enrich).pipe(Effect.flatMap((reader) => checkCatalogue(enrich, reader, envIdsOf(pipeline.source))))
              }
            ]
      for (const { side, type, check } of withEnrich) {
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
