import * as fs from "node:fs/promises"
import { createRequire } from "node:module"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { ConfigError, type PipelineFile } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import type { Args } from "../Args.js"
import { checkoutPackages, packPackages } from "../LocalPackages.js"
import type { Output } from "../Output.js"
import { type PluginKind, type TemplateDependencies, VENDOR, packageNameOf, sinkTemplate } from "../PluginTemplate.js"
import { sourceTemplate } from "../SourceTemplate.js"

const usageError = (message: string) => new ConfigError({ file: "command line", issues: [{ path: [], message }] })
const validName = /^[a-z][a-z0-9-]{0,49}$/
const templates: Record<PluginKind, (name: string, deps: TemplateDependencies) => Record<string, string>> = { sink: sinkTemplate, source: sourceTemplate }
const isKind = (kind: string | undefined): kind is PluginKind => kind === "sink" || kind === "source"

/** The runner's package folder (apps/runner in a checkout): what it resolves is what the plugin should get. */
const runnerDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..")

/**
 * Where the plugin's featbit-export packages come from: the registry with --registry, or when the runner was
 * installed from it (it has them then); from a checkout, tarballs of the checkout's packages packed into
 * the plugin's vendor/ folder, since they may not be published yet.
 */
const dependencies = (args: Args, dir: string): Effect.Effect<{ deps: TemplateDependencies; packed: ReadonlyArray<string> }, ConfigError> =>
  Effect.gen(function* () {
    const require = createRequire(import.meta.url)
    const versionOf = (name: string) => (require(`${name}/package.json`) as { version: string }).version
    const versions = { core: versionOf("@featbit-export/core"), effect: versionOf("effect") }
    const local = args.registry ? undefined : yield* Effect.promise(() => checkoutPackages(runnerDir, ["@featbit-export/core", "@featbit-export/testkit"]))
    if (local === undefined) return { deps: { ...versions, from: { registry: true } }, packed: [] }
    const tarballs = yield* packPackages(local, path.join(dir, VENDOR))
    return { deps: { ...versions, from: { registry: false, tarballs } }, packed: [...tarballs.values()].map((file) => `${VENDOR}/${file}`) }
  })

/** `featbit-export plugin new sink|source <name> [--dir DIR] [--registry]`: writes a working plugin package to start from. */
export const pluginCommand = (args: Args, _: PipelineFile.PluginRegistry, output: Output): Effect.Effect<number, ConfigError> =>
  Effect.gen(function* () {
    const [verb, kind, name] = args.operands
    if (verb !== "new" || !isKind(kind) || name === undefined) {
      return yield* Effect.fail(usageError("usage: featbit-export plugin new sink|source <name> [--dir DIR] [--registry]"))
    }
    if (!validName.test(name)) {
      return yield* Effect.fail(usageError(`plugin name ${JSON.stringify(name)}: use lowercase letters, digits and '-', starting with a letter`))
    }
    const packageName = packageNameOf(kind, name)
    const dir = path.resolve(args.dir ?? packageName)
    const existing = yield* Effect.promise(() => fs.readdir(dir).catch(() => [] as Array<string>))
    if (existing.length > 0) return yield* Effect.fail(usageError(`${dir} exists and is not empty; choose another --dir`))
    const { deps, packed } = yield* dependencies(args, dir)
    const files = templates[kind](name, deps)
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
    const written = [...Object.keys(files), ...packed]
    const from = deps.from.registry
      ? "It depends on @featbit-export/core and testkit from the npm registry."
      : `It installs @featbit-export/core and testkit from this checkout, packed into ${VENDOR}/ (its README says how to switch to the registry once they are published).`
    output.report(
      `wrote ${packageName} into ${path.relative(process.cwd(), dir) || "."}: ${written.join(", ")}. ${from} Next: cd there, npm install, npm test`,
      { message: "plugin", dir, files: written, registry: deps.from.registry }
    )
    return 0
  })
