import { createRequire } from "node:module"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { type AnySinkPlugin, type AnySourcePlugin, CONTRACT_VERSION, ConfigError, type ConfigIssue, PipelineFile, interpolate } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as YAML from "yaml"

/** A `use:` key of a pipeline file: the plugin it names and where it is written. */
export interface UseKey {
  readonly kind: "source" | "sink"
  /**
   * The package, `${VAR}` references replaced as in any value; undefined when a variable it needs is
   * missing: parsing the file reports that at the value, in the words it uses for every value.
   */
  readonly name: string | undefined
  readonly path: ReadonlyArray<string | number>
  readonly line: number
  readonly column: number
  /** Offsets of the key's text (`use`, quotes included) in the file. */
  readonly start: number
  readonly end: number
}

/** Finds every `pipelines[i].source.use` and `pipelines[i].sink.use`; a file YAML cannot parse has none. */
export const findUseKeys = (
  text: string,
  env: Readonly<Record<string, string | undefined>> = process.env
): { keys: Array<UseKey>; issues: Array<ConfigIssue> } => {
  const lines = new YAML.LineCounter()
  const doc = YAML.parseDocument(text, { lineCounter: lines, prettyErrors: false })
  const keys: Array<UseKey> = []
  const issues: Array<ConfigIssue> = []
  if (doc.errors.length > 0 || !YAML.isMap(doc.contents)) return { keys, issues }
  const pipelines = doc.contents.get("pipelines", true)
  if (!YAML.isSeq(pipelines)) return { keys, issues }
  pipelines.items.forEach((item, index) => {
    if (!YAML.isMap(item)) return
    for (const kind of ["source", "sink"] as const) {
      const block = item.get(kind, true)
      if (!YAML.isMap(block)) continue
      const pair = block.items.find((p) => YAML.isScalar(p.key) && p.key.value === "use")
      if (pair === undefined || !YAML.isScalar(pair.key) || pair.key.range == null) continue
      const at = lines.linePos(pair.key.range[0])
      const where = { path: ["pipelines", index, kind, "use"], line: at.line, column: at.col }
      const written = YAML.isScalar(pair.value) ? pair.value.value : undefined
      // Interpolated here, before parsing, because the package must be loaded before the file can decode.
      const value = typeof written === "string" ? interpolate(written, env) : undefined
      if (block.items.some((p) => YAML.isScalar(p.key) && p.key.value === "type")) {
        issues.push({ ...where, message: "a plugin is named either by type (a built-in) or by use (an npm package), not both" })
      } else if (value === undefined || (value._tag === "Value" && value.value === "")) {
        issues.push({ ...where, message: "use names the npm package of a community plugin, e.g. use: \"@acme/featbit-export-sink-kafka\"" })
      } else {
        // Kept when a variable is missing, so that `use` is still read as `type` and the parse reports the variable.
        const name = value._tag === "Value" ? value.value : undefined
        keys.push({ kind, name, ...where, start: pair.key.range[0], end: pair.key.range[1] })
      }
    }
  })
  return { keys, issues }
}

const looksLikePlugin = (value: unknown, kind: "source" | "sink"): value is AnySourcePlugin | AnySinkPlugin => {
  if (typeof value !== "object" || value === null) return false
  const candidate = value as Record<string, unknown>
  return (
    candidate["kind"] === kind &&
    typeof candidate["type"] === "string" &&
    typeof candidate["contract"] === "number" &&
    typeof candidate["make"] === "function" &&
    Schema.isSchema(candidate["config"]) &&
    typeof (candidate["config"] as { fields?: unknown }).fields === "object"
  )
}

/** The plugin a module exports: its default export, or else its first named export that is one. */
const pluginOf = (module: Record<string, unknown>, kind: "source" | "sink"): { plugin?: AnySourcePlugin | AnySinkPlugin; contract?: number } => {
  const candidates = [module["default"], ...Object.entries(module).filter(([k]) => k !== "default").map(([, v]) => v)]
  const plugin = candidates.find((candidate) => looksLikePlugin(candidate, kind))
  if (plugin !== undefined) return { plugin }
  // A plugin of another contract may have another shape: its kind and contract are enough to say so.
  const other = candidates.find(
    (candidate) => typeof candidate === "object" && candidate !== null && (candidate as { kind?: unknown }).kind === kind && typeof (candidate as { contract?: unknown }).contract === "number"
  ) as { contract: number } | undefined
  return other !== undefined && other.contract !== CONTRACT_VERSION ? { contract: other.contract } : {}
}

const builtinTypes = (registry: PipelineFile.PluginRegistry, kind: "source" | "sink") =>
  (kind === "source" ? registry.sources : registry.sinks).map((p) => p.type).join(", ")

/** Loads one package named by `use:`, from the folder of the pipeline file. */
const loadPlugin = async (dir: string, key: UseKey & { readonly name: string }, registry: PipelineFile.PluginRegistry): Promise<{ plugin: AnySourcePlugin | AnySinkPlugin } | { message: string }> => {
  let resolved: string
  try {
    resolved = createRequire(path.join(dir, "noop.js")).resolve(key.name)
  } catch {
    return {
      message: `cannot find the package ${JSON.stringify(key.name)} from ${dir} (install it there with npm install ${key.name}, or use one of the built-in ${key.kind} types with type: ${builtinTypes(registry, key.kind)})`
    }
  }
  let module: Record<string, unknown>
  try {
    module = (await import(pathToFileURL(resolved).href)) as Record<string, unknown>
  } catch (cause) {
    return { message: `the package ${JSON.stringify(key.name)} failed to load (${(cause as Error).message?.split("\n")[0] ?? String(cause)})` }
  }
  const { plugin, contract } = pluginOf(module, key.kind)
  const written = plugin?.contract ?? contract
  if (written !== undefined && written !== CONTRACT_VERSION) {
    return { message: `the plugin ${JSON.stringify(key.name)} was written for contract ${written}, this runner implements contract ${CONTRACT_VERSION}; install a version of it made for this runner` }
  }
  if (plugin === undefined) {
    return { message: `the package ${JSON.stringify(key.name)} is not a featbit-export ${key.kind} plugin: it exports no object with kind "${key.kind}", type, contract, config (a Schema.Struct) and make` }
  }
  // Registered under its package name: the file names it so, and `use` becomes `type` before decoding.
  return { plugin: { ...plugin, type: key.name } }
}

/**
 * The registry a pipeline file needs: the built-ins plus every community plugin its `use:` keys name.
 * A file that cannot be read or parsed gets the built-ins: loading it reports what is wrong.
 */
export const communityRegistry = (file: string | undefined, registry: PipelineFile.PluginRegistry): Effect.Effect<PipelineFile.PluginRegistry, ConfigError> =>
  Effect.gen(function* () {
    if (file === undefined) return registry
    const text = yield* PipelineFile.readText(file).pipe(Effect.orElseSucceed(() => undefined))
    if (text === undefined) return registry
    const { keys, issues } = findUseKeys(text)
    const dir = path.dirname(path.resolve(file))
    const sources = [...registry.sources]
    const sinks = [...registry.sinks]
    for (const key of keys) {
      const known = key.kind === "source" ? sources : sinks
      const name = key.name
      if (name === undefined || known.some((p) => p.type === name)) continue
      const loaded = yield* Effect.promise(() => loadPlugin(dir, { ...key, name }, registry))
      if ("message" in loaded) issues.push({ path: key.path, line: key.line, column: key.column, message: loaded.message })
      else if (key.kind === "source") sources.push(loaded.plugin as AnySourcePlugin)
      else sinks.push(loaded.plugin as AnySinkPlugin)
    }
    if (issues.length > 0) return yield* Effect.fail(new ConfigError({ file, issues: issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0)) }))
    return { ...registry, sources, sinks }
  })

/**
 * Rewrites `use:` keys to `type:` so the file decodes with the plugins registered under their package
 * names, and maps the issues back: paths and messages say `use`, columns after a rewritten key on its
 * line move back by the one character `type` added.
 */
export const rewriteUse = (text: string): { text: string; mapIssues: (issues: ReadonlyArray<ConfigIssue>) => Array<ConfigIssue> } => {
  const { keys } = findUseKeys(text)
  let out = text
  for (const key of [...keys].sort((a, b) => b.start - a.start)) out = `${out.slice(0, key.start)}type${out.slice(key.end)}`
  const under = (issue: ConfigIssue, key: UseKey) => key.path.slice(0, 3).every((segment, i) => String(issue.path[i]) === String(segment))
  const mapIssues = (issues: ReadonlyArray<ConfigIssue>) =>
    issues.map((issue) => {
      const key = keys.find((k) => under(issue, k))
      if (key === undefined) return issue
      const shift = keys.filter((k) => k.line === issue.line && issue.column !== undefined && issue.column > k.column).length
      return {
        ...issue,
        path: issue.path.map((segment, i) => (i === 3 && segment === "type" ? "use" : segment)),
        message: issue.message.replace(/"type"/g, '"use"'),
        ...(issue.column !== undefined ? { column: issue.column - shift } : {})
      }
    })
  return { text: out, mapIssues }
}
