import type { ConfigError, PipelineFile, SinkError, SourceError } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { Args } from "../Args.js"
import type { Output } from "../Output.js"
import { checkCatalogue, openCatalogue } from "@featbit-export/enrich-flags"
import { SCHEMA_VERSION, openPostgresState } from "@featbit-export/state-postgres"
import { runnerName } from "../cluster/RunnerName.js"
import { loadFile, openSink, openSource, selectPipelines } from "../Pipelines.js"

const stateTables = (schema: string) => `${schema}.featbit_export_*`

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
    // The shared state first: without it no pipeline of the file runs (its tables are created on first use).
    if (file.sharedState !== undefined) {
      const shared = file.sharedState
      const opened = yield* Effect.either(Effect.scoped(Effect.map(openPostgresState(shared, { owner: runnerName(file.cluster) }), (state) => state.where)))
      if (opened._tag === "Right") {
        const message = `${opened.right} is ready: tables ${stateTables(shared.schema)} at version ${SCHEMA_VERSION}`
        output.report(`ok    state postgres: ${message}`, { side: "state", type: "postgres", ok: true, message })
      } else {
        failures += 1
        output.report(`FAIL  state postgres: ${opened.left.message}`, { level: "error", side: "state", type: "postgres", ok: false, message: opened.left.message })
      }
    }
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
