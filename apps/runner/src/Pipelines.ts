import { ConfigError, type PipelineFile, type Sink, type SinkError, type Source, type SourceError } from "@featbit-export/core"
import { PipelineFile as Files } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Scope from "effect/Scope"
import type { Args } from "./Args.js"
import { rewriteUse } from "./CommunityPlugins.js"
import { learnSecrets } from "./Output.js"
import { findSink, findSource } from "./Plugins.js"

/** Loads the file named on the command line; from then on, its secrets are scrubbed from all output. */
export const loadFile = (args: Args, registry: PipelineFile.PluginRegistry): Effect.Effect<PipelineFile.PipelineFile, ConfigError> =>
  args.file === undefined
    ? Effect.fail(new ConfigError({ file: "command line", issues: [{ path: [], message: `${args.command} needs a pipeline file: featbit-export ${args.command} <file>` }] }))
    : loadWithUse(args.file, registry, args.stateDir).pipe(Effect.tap(learnSecrets))

/** `PipelineFile.load`, with `use:` keys (community plugins, already in `registry`) read as `type:`. */
const loadWithUse = (file: string, registry: PipelineFile.PluginRegistry, stateDir: string | undefined): Effect.Effect<PipelineFile.PipelineFile, ConfigError> =>
  // `readText` refuses a folder, a huge or binary file before anything parses it.
  Files.readText(file).pipe(
    Effect.flatMap((text) => {
      const { text: rewritten, mapIssues } = rewriteUse(text)
      return Either.match(Files.parse(rewritten, file, registry, { stateDir }), {
        onLeft: (error) => Effect.fail(new ConfigError({ file: error.file, issues: mapIssues(error.issues) })),
        onRight: Effect.succeed
      })
    })
  )

/** The pipelines named with --pipeline (all of them when none is named). */
export const selectPipelines = (
  file: PipelineFile.PipelineFile,
  names: ReadonlyArray<string>
): Effect.Effect<ReadonlyArray<PipelineFile.PipelineConfig>, ConfigError> => {
  if (names.length === 0) return Effect.succeed(file.pipelines)
  const known = file.pipelines.map((p) => p.name)
  const unknown = names.filter((name) => !known.includes(name))
  if (unknown.length > 0) {
    return Effect.fail(
      new ConfigError({
        file: file.file,
        issues: unknown.map((name) => ({ path: [], message: `no pipeline named ${JSON.stringify(name)}; the file has ${known.map((k) => JSON.stringify(k)).join(", ")}` }))
      })
    )
  }
  return Effect.succeed(file.pipelines.filter((p) => names.includes(p.name)))
}

/** Opens a pipeline's source in the current scope. */
export const openSource = (
  file: PipelineFile.PipelineFile,
  pipeline: PipelineFile.PipelineConfig,
  registry: PipelineFile.PluginRegistry
): Effect.Effect<Source, SourceError, Scope.Scope> =>
  findSource(registry, pipeline.source.type).make(pipeline.source, { pipeline: pipeline.name, baseDir: file.baseDir })

/** Opens a pipeline's sink in the current scope. */
export const openSink = (
  file: PipelineFile.PipelineFile,
  pipeline: PipelineFile.PipelineConfig,
  registry: PipelineFile.PluginRegistry
): Effect.Effect<Sink, SinkError, Scope.Scope> =>
  findSink(registry, pipeline.sink.type).make(pipeline.sink, { pipeline: pipeline.name, baseDir: file.baseDir })
