import * as fs from "node:fs/promises"
import { createRequire } from "node:module"
import * as path from "node:path"
import { ConfigError, type PipelineFile } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import type { Args } from "../Args.js"
import type { Output } from "../Output.js"
import { sinkTemplate } from "../PluginTemplate.js"

const usageError = (message: string) => new ConfigError({ file: "command line", issues: [{ path: [], message }] })
const validName = /^[a-z][a-z0-9-]{0,49}$/

/** `featbit-export plugin new sink <name> [--dir DIR]`: writes a working plugin package to start from. */
export const pluginCommand = (args: Args, _: PipelineFile.PluginRegistry, output: Output): Effect.Effect<number, ConfigError> =>
  Effect.gen(function* () {
    const [verb, kind, name] = args.operands
    if (verb !== "new" || kind !== "sink" || name === undefined) {
      return yield* Effect.fail(usageError("usage: featbit-export plugin new sink <name> [--dir DIR] (sources are not templated yet)"))
    }
    if (!validName.test(name)) {
      return yield* Effect.fail(usageError(`plugin name ${JSON.stringify(name)}: use lowercase letters, digits and '-', starting with a letter`))
    }
    const dir = path.resolve(args.dir ?? `featbit-export-sink-${name}`)
    const existing = yield* Effect.promise(() => fs.readdir(dir).catch(() => [] as Array<string>))
    if (existing.length > 0) return yield* Effect.fail(usageError(`${dir} exists and is not empty; choose another --dir`))
    const require = createRequire(import.meta.url)
    const versionOf = (name: string) => (require(`${name}/package.json`) as { version: string }).version
    const files = sinkTemplate(name, {
      core: versionOf("@featbit-export/core"),
      // The test kit is released with core, version for version.
      testkit: versionOf("@featbit-export/core"),
      effect: versionOf("effect")
    })
    yield* Effect.tryPromise({
      try: async () => {
        for (const [relative, text] of Object.entries(files)) {
          const file = path.join(dir, relative)
          await fs.mkdir(path.dirname(file), { recursive: true })
          await fs.writeFile(file, text, { flag: "wx" })
        }
      },
      catch: (cause) => usageError(`cannot write the plugin into ${dir}: ${(cause as Error).message}`)
    })
    output.report(
      `wrote featbit-export-sink-${name} into ${path.relative(process.cwd(), dir) || "."}: ${Object.keys(files).join(", ")}. Next: cd there, npm install, npm test`,
      { message: "plugin", dir, files: Object.keys(files) }
    )
    return 0
  })
