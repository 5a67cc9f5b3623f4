import * as fs from "node:fs/promises"
import { ConfigError, PipelineFile } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import type { Args } from "../Args.js"
import type { Output } from "../Output.js"

/** `featbit-export schema`: the JSON Schema of pipeline files, on stdout or into --out. */
export const schemaCommand = (args: Args, registry: PipelineFile.PluginRegistry, output: Output): Effect.Effect<number, ConfigError> =>
  Effect.gen(function* () {
    const text = JSON.stringify(PipelineFile.jsonSchema(registry), null, 2) + "\n"
    if (args.out === undefined) {
      process.stdout.write(text)
      return 0
    }
    const out = args.out
    yield* Effect.tryPromise({
      try: () => fs.writeFile(out, text),
      catch: (cause) => new ConfigError({ file: out, issues: [{ path: [], message: `cannot write the schema: ${(cause as Error).message}` }] })
    })
    output.report(`wrote the pipeline file schema to ${out}; point your editor at it, e.g. "# yaml-language-server: $schema=${out}"`, { message: "schema", out })
    return 0
  })
