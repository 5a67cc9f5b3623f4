import type { ConfigError, PipelineFile } from "@featbit-export/core"
import { contextOf } from "@featbit-export/state-postgres"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as path from "node:path"
import type { Args } from "../Args.js"
import { displayConfig } from "../Display.js"
import type { Output } from "../Output.js"
import { loadFile } from "../Pipelines.js"
import { pollDescription } from "./run.js"

/** `featbit-export validate`: decodes the file without connecting anywhere, and shows what it understood. */
export const validateCommand = (args: Args, registry: PipelineFile.PluginRegistry, output: Output): Effect.Effect<number, ConfigError> =>
  Effect.gen(function* () {
    const file = yield* loadFile(args, registry)
    const where =
      file.sharedState === undefined
        ? `state in ${path.relative(process.cwd(), file.stateDir) || "."}`
        : `state shared in ${contextOf(Redacted.value(file.sharedState.url)).where.replace(/^the state database \((.*)\)$/, "$1")} (schema ${file.sharedState.schema}), pipelines spread over the runners that share it (${file.cluster?.spread ?? "even"} spread)`
    const lines = [`${file.file} is valid: ${file.pipelines.length} pipeline${file.pipelines.length === 1 ? "" : "s"}, ${where}`]
    for (const pipeline of file.pipelines) {
      lines.push(`  ${pipeline.name}: ${pipeline.source.type} -> ${pipeline.sink.type} (batches of ${pipeline.batch.size}, ${pipeline.batch.inFlight} in flight, ${pollDescription(pipeline)}, up to ${pipeline.retry.maxRetries} retries)`)
      lines.push(`    source: ${displayConfig(pipeline.source)}`)
      lines.push(`    sink:   ${displayConfig(pipeline.sink)}`)
      for (const expression of pipeline.transformStep?.expressions ?? []) {
        lines.push(`    ${expression.at}: ${expression.source.replace(/\s*\n\s*/g, " ")}  (compiled: ${expression.type})`)
      }
    }
    output.report(lines.join("\n"), {
      message: "valid",
      file: file.file,
      pipelines: file.pipelines.map(({ transformStep, ...p }) => ({
        ...(JSON.parse(displayConfig(p)) as object),
        ...(transformStep === undefined ? {} : { expressions: transformStep.expressions })
      }))
    })
    return 0
  })
