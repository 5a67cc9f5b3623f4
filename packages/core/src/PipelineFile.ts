import * as fs from "node:fs/promises"
import * as path from "node:path"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as JSONSchema from "effect/JSONSchema"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as YAML from "yaml"
import { type ConfigIssue, ConfigError } from "./Errors.js"
import { interpolate } from "./Interpolate.js"
import type { AnySinkPlugin, AnySourcePlugin } from "./Plugin.js"
import { RetryPolicy, defaultRetryPolicy } from "./Retry.js"
import { DurationSetting, PositiveInt } from "./Settings.js"

/** The plugins a pipeline file may use. */
export interface PluginRegistry {
  readonly sources: ReadonlyArray<AnySourcePlugin>
  readonly sinks: ReadonlyArray<AnySinkPlugin>
}

export const PipelineName = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, {
    message: () => "a pipeline name is letters, digits, '.', '_' and '-' (it names the checkpoint file)"
  })
)

const BatchSettings = Schema.Struct({
  size: Schema.optionalWith(PositiveInt, { default: () => 1000 }).annotations({
    description: "Rows per page read from the source, and so events per batch (default 1000)"
  }),
  inFlight: Schema.optionalWith(PositiveInt, { default: () => 4 }).annotations({
    description: "Batches written at once, if the sink allows it (default 4)"
  })
})

/** The keys every pipeline has, whatever its source and sink. */
export const pipelineSettings = {
  name: PipelineName.annotations({ description: "Unique in the file; also the checkpoint's name" }),
  batch: Schema.optionalWith(BatchSettings, { default: () => ({ size: 1000, inFlight: 4 }) }),
  retry: Schema.optionalWith(RetryPolicy, { default: () => defaultRetryPolicy }),
  mode: Schema.optionalWith(Schema.Literal("follow", "once"), { default: () => "follow" as const }).annotations({
    description: "follow: keep polling for new events (default); once: catch up and stop"
  }),
  pollInterval: Schema.optionalWith(DurationSetting, { default: () => Duration.seconds(5) }).annotations({
    description: "In follow mode, the wait between two reads once caught up (default 5s)"
  })
}

/** A plugin's decoded config: its `type` and its own keys. */
export interface PluginConfig {
  readonly type: string
  readonly [key: string]: unknown
}

const configUnion = (plugins: ReadonlyArray<AnySourcePlugin | AnySinkPlugin>): Schema.Schema<PluginConfig, unknown> =>
  Schema.Union(
    ...plugins.map((plugin) =>
      Schema.Struct({ type: Schema.Literal(plugin.type) })
        .pipe(Schema.extend(plugin.config))
        .annotations({ title: `${plugin.kind} ${plugin.type}`, description: plugin.description })
    )
    // Plugin schemas need no services to decode; the erased plugin type cannot say so.
  ) as unknown as Schema.Schema<PluginConfig, unknown>

/** The schema of a whole pipeline file, composed from the plugins' own config schemas. */
export const pipelineFileSchema = (plugins: PluginRegistry) =>
  Schema.Struct({
    state: Schema.optional(
      Schema.String.annotations({
        description: "Folder for checkpoints and dead letters, relative to this file (default .featbit-export)"
      })
    ),
    pipelines: Schema.NonEmptyArray(
      Schema.Struct({
        ...pipelineSettings,
        source: configUnion(plugins.sources),
        sink: configUnion(plugins.sinks)
      })
    )
  })

type Decoded = Schema.Schema.Type<ReturnType<typeof pipelineFileSchema>>
type PipelineBase = Omit<Decoded["pipelines"][number], "source" | "sink">

/** One pipeline of a file, decoded: its settings and its plugins' configs (secrets `Redacted`). */
export interface PipelineConfig extends PipelineBase {
  readonly source: PluginConfig
  readonly sink: PluginConfig
}

export interface PipelineFile {
  /** The file as given, for messages. */
  readonly file: string
  /** Its folder: relative paths in it are resolved against it. */
  readonly baseDir: string
  /** The absolute state folder (checkpoints, dead letters). */
  readonly stateDir: string
  readonly pipelines: ReadonlyArray<PipelineConfig>
}

/** The JSON Schema of pipeline files, for editors (`# yaml-language-server: $schema=...`). */
export const jsonSchema = (plugins: PluginRegistry): object => ({
  ...JSONSchema.make(pipelineFileSchema(plugins)),
  title: "featbit-export pipeline file"
})

const secretKey = /key|secret|password|token|connection|credential|url/i

type Path = Array<string | number>

/** Finds the node a schema path points at: a map key for unexpected keys, the nearest parent for missing ones. */
const locate = (doc: YAML.Document, path: ReadonlyArray<PropertyKey>, preferKey: boolean): YAML.Node | undefined => {
  let node: unknown = doc.contents
  for (let i = 0; i < path.length; i++) {
    const segment = path[i]
    if (YAML.isMap(node)) {
      const pair = node.items.find((item) => YAML.isScalar(item.key) && String(item.key.value) === String(segment))
      if (pair === undefined) return node
      const last = i === path.length - 1
      if (last && preferKey && YAML.isNode(pair.key)) return pair.key
      node = pair.value ?? pair.key
    } else if (YAML.isSeq(node) && typeof segment === "number") {
      const item = node.items[segment]
      if (item === undefined) return node
      node = item
    } else {
      break
    }
  }
  return YAML.isNode(node) ? node : undefined
}

const position = (lines: YAML.LineCounter, node: YAML.Node | undefined) => {
  if (node?.range === undefined || node.range === null) return {}
  const { line, col } = lines.linePos(node.range[0])
  return { line, column: col }
}

/** The key path of a node from the `yaml` visitor's ancestors. */
const keyPath = (ancestors: ReadonlyArray<unknown>, node: unknown): Path => {
  const out: Path = []
  const chain = [...ancestors, node]
  for (let i = 0; i < chain.length - 1; i++) {
    const parent = chain[i]
    const child = chain[i + 1]
    if (YAML.isPair(parent) && YAML.isScalar(parent.key) && parent.value === child) out.push(String(parent.key.value))
    if (YAML.isSeq(parent)) out.push(parent.items.indexOf(child as never))
  }
  return out
}

/**
 * Replaces environment references in string scalars, after parsing, so a value can never change the
 * structure of the file and every error keeps its line. A plain (unquoted) scalar is typed again after
 * substitution, so `port: ${PORT}` is a number.
 */
const interpolateDocument = (
  doc: YAML.Document,
  lines: YAML.LineCounter,
  env: Readonly<Record<string, string | undefined>>
): { issues: Array<ConfigIssue>; fromEnv: Set<YAML.Node> } => {
  const issues: Array<ConfigIssue> = []
  const fromEnv = new Set<YAML.Node>()
  YAML.visit(doc, {
    Scalar(key, node, ancestors) {
      if (key === "key" || typeof node.value !== "string" || !node.value.includes("$")) return
      const result = interpolate(node.value, env)
      if (result._tag === "Missing") {
        issues.push({ path: keyPath(ancestors, node), message: result.message, ...position(lines, node) })
        return
      }
      if (!result.substituted) {
        node.value = result.value
        return
      }
      fromEnv.add(node)
      if (node.type === "PLAIN") {
        const typed: unknown = result.value.trim() === "" ? result.value : YAML.parse(result.value)
        node.value = typeof typed === "number" || typeof typed === "boolean" ? typed : result.value
      } else {
        node.value = result.value
      }
    }
  })
  return { issues, fromEnv }
}

const schemaIssues = (
  error: ParseResult.ParseError,
  doc: YAML.Document,
  lines: YAML.LineCounter,
  fromEnv: Set<YAML.Node>
): Array<ConfigIssue> =>
  ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => {
    const node = locate(doc, issue.path, issue._tag === "Unexpected")
    const keyName = String(issue.path[issue.path.length - 1] ?? "")
    // Never echo a value that may be a secret: one from the environment, or under a secret-looking key.
    const hideValue = (node !== undefined && fromEnv.has(node)) || secretKey.test(keyName)
    let message = issue.message
    if (issue._tag === "Unexpected") message = `unknown key; ${message.replace(/^is unexpected, expected:/, "expected one of:")}`
    if (issue._tag === "Missing") message = "is required but missing"
    if (hideValue) message = message.replace(/, actual [\s\S]*$/, " (the value is not shown)")
    return { path: issue.path as Path, message, ...position(lines, node) }
  })

export interface LoadOptions {
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Overrides the file's `state` key (the runner's `--state-dir`). */
  readonly stateDir?: string | undefined
}

/** Decodes pipeline-file text. `file` only names it in messages and anchors relative paths. */
export const parse = (
  text: string,
  file: string,
  plugins: PluginRegistry,
  options: LoadOptions = {}
): Either.Either<PipelineFile, ConfigError> => {
  const lines = new YAML.LineCounter()
  const doc = YAML.parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  const fail = (issues: ReadonlyArray<ConfigIssue>) => Either.left(new ConfigError({ file, issues }))
  if (doc.errors.length > 0) {
    return fail(
      doc.errors.map((error) => ({
        path: [],
        message: error.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, ""),
        line: error.linePos?.[0].line,
        column: error.linePos?.[0].col
      }))
    )
  }
  if (doc.contents === null) return fail([{ path: [], message: "the file is empty: it needs a top-level 'pipelines:' list" }])
  const { issues, fromEnv } = interpolateDocument(doc, lines, options.env ?? process.env)
  if (issues.length > 0) return fail(issues)

  const decoded = Schema.decodeUnknownEither(pipelineFileSchema(plugins), { errors: "all", onExcessProperty: "error" })(
    doc.toJS({ maxAliasCount: 100 })
  )
  if (Either.isLeft(decoded)) return fail(schemaIssues(decoded.left, doc, lines, fromEnv))

  const seen = new Map<string, number>()
  const duplicates: Array<ConfigIssue> = []
  decoded.right.pipelines.forEach((pipeline, index) => {
    const first = seen.get(pipeline.name)
    if (first !== undefined) {
      const at = ["pipelines", index, "name"]
      duplicates.push({
        path: at,
        message: `pipeline name ${JSON.stringify(pipeline.name)} is already used by pipelines[${first}]; names must be unique (each names a checkpoint)`,
        ...position(lines, locate(doc, at, false))
      })
    } else seen.set(pipeline.name, index)
  })
  if (duplicates.length > 0) return fail(duplicates)

  const baseDir = path.dirname(path.resolve(file))
  const stateDir = path.resolve(
    options.stateDir !== undefined ? options.stateDir : path.resolve(baseDir, decoded.right.state ?? ".featbit-export")
  )
  return Either.right({ file, baseDir, stateDir, pipelines: decoded.right.pipelines as ReadonlyArray<PipelineConfig> })
}

/** Reads and decodes a pipeline file. */
export const load = (
  file: string,
  plugins: PluginRegistry,
  options: LoadOptions = {}
): Effect.Effect<PipelineFile, ConfigError> =>
  Effect.tryPromise({
    try: () => fs.readFile(file, "utf8"),
    catch: (cause) =>
      new ConfigError({
        file,
        issues: [
          {
            path: [],
            message:
              (cause as NodeJS.ErrnoException).code === "ENOENT"
                ? "no such file"
                : `cannot read the file (${(cause as Error).message})`
          }
        ]
      })
  }).pipe(Effect.flatMap((text) => parse(text, file, plugins, options)))
