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
  // 5,000: reading FeatBit's ClickHouse in pages of 1k rows runs at half the rate of 5k or 10k (measured in
  // the source's benchmark), and 5k holds half the memory of 10k. Sinks split batches to their own limits.
  size: Schema.optionalWith(PositiveInt, { default: () => 5000, exact: true }).annotations({
    description: "Rows per page read from the source, and so events per batch (default 5000)"
  }),
  inFlight: Schema.optionalWith(PositiveInt, { default: () => 4, exact: true }).annotations({
    description: "Batches written at once, if the sink allows it (default 4)"
  })
})

const DeadLetterSettings = Schema.Struct({
  max: Schema.optionalWith(Schema.Int.pipe(Schema.greaterThanOrEqualTo(0)), { default: () => 1000, exact: true }).annotations({
    description: "Most rows of the last `window` that may be dead-lettered; one more stops the pipeline before the batch is committed (default 1000)"
  }),
  window: Schema.optionalWith(PositiveInt, { default: () => 10_000, exact: true }).annotations({
    description: "How many of the latest rows `max` counts over (default 10000)"
  })
}).annotations({
  description: "A limit on dead letters: when a destination refuses everything, stop with a sentence instead of dead-lettering the whole export"
})

/** The keys every pipeline has, whatever its source and sink. */
export const pipelineSettings = {
  name: PipelineName.annotations({ description: "Unique in the file; also the checkpoint's name" }),
  batch: Schema.optionalWith(BatchSettings, { default: () => ({ size: 5000, inFlight: 4 }), exact: true }),
  retry: Schema.optionalWith(RetryPolicy, { default: () => defaultRetryPolicy, exact: true }),
  deadLetters: Schema.optionalWith(DeadLetterSettings, { default: () => ({ max: 1000, window: 10_000 }), exact: true }),
  mode: Schema.optionalWith(Schema.Literal("follow", "once"), { default: () => "follow" as const, exact: true }).annotations({
    description: "follow: keep polling for new events (default); once: catch up and stop"
  }),
  pollInterval: Schema.optionalWith(DurationSetting, { default: () => Duration.seconds(5), exact: true }).annotations({
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
    state: Schema.optionalWith(
      Schema.String.annotations({
        description: "Folder for checkpoints and dead letters, relative to this file (default .featbit-export)"
      }),
      { exact: true }
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

const secretKey = /key|secret|password|token|connection|credential|url|auth|sas|dsn/i

// What a YAML 1.2 core schema reads as a number or a boolean; anything else from the environment stays text.
const numberOrBoolean = /^(?:[-+]?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|true|false)$/

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

/** The first key written on a line, so that a syntax error can name the key it is about. */
const keyOnLine = (doc: YAML.Document, lines: YAML.LineCounter, line: number): { path: Path; column: number } | undefined => {
  let found: { path: Path; column: number } | undefined
  YAML.visit(doc, {
    Pair(_, pair, ancestors) {
      if (found !== undefined || !YAML.isScalar(pair.key) || pair.key.range == null) return
      const at = lines.linePos(pair.key.range[0])
      if (at.line === line) found = { path: [...keyPath(ancestors, pair), String(pair.key.value)], column: at.col }
    }
  })
  return found
}

/**
 * Replaces environment references in string scalars, after parsing, so a value can never change the
 * structure of the file and every error keeps its line. A plain (unquoted) scalar that becomes a number or
 * a boolean is typed again, so `port: ${PORT}` is a number; `retyped` remembers the text, in case the key
 * wanted text after all (a write key made of digits).
 */
const interpolateDocument = (
  doc: YAML.Document,
  lines: YAML.LineCounter,
  env: Readonly<Record<string, string | undefined>>
): { issues: Array<ConfigIssue>; fromEnv: Set<YAML.Node>; retyped: Map<YAML.Scalar, string> } => {
  const issues: Array<ConfigIssue> = []
  const fromEnv = new Set<YAML.Node>()
  const retyped = new Map<YAML.Scalar, string>()
  YAML.visit(doc, {
    Scalar(key, node, ancestors) {
      if (key === "key" || typeof node.value !== "string" || !node.value.includes("$")) return
      const result = interpolate(node.value, env)
      if (result._tag === "Missing") {
        issues.push({ path: keyPath(ancestors, node), message: result.message, ...position(lines, node) })
        return
      }
      if (result.substituted) fromEnv.add(node)
      node.value = result.value
      if (result.substituted && node.type === "PLAIN" && numberOrBoolean.test(result.value)) {
        const typed: unknown = YAML.parse(result.value)
        if (typeof typed === "boolean" || (typeof typed === "number" && Number.isSafeInteger(Math.trunc(typed)))) {
          retyped.set(node, result.value)
          node.value = typed
        }
      }
    }
  })
  return { issues, fromEnv, retyped }
}

const startsWith = (path: ReadonlyArray<PropertyKey>, prefix: ReadonlyArray<PropertyKey>) =>
  prefix.length <= path.length && prefix.every((segment, i) => String(segment) === String(path[i]))

const schemaIssues = (
  error: ParseResult.ParseError,
  doc: YAML.Document,
  lines: YAML.LineCounter,
  fromEnv: Set<YAML.Node>
): Array<ConfigIssue> => {
  const all = ParseResult.ArrayFormatter.formatErrorSync(error)
  // An optional key is `T | undefined` to the schema: a wrong value there also yields "Expected undefined"
  // issues at the key and its parent, which only repeat the real one.
  const useful = all.filter(
    (issue) => !(issue.message.startsWith("Expected undefined") && all.some((other) => other !== issue && startsWith(other.path, issue.path) && !other.message.startsWith("Expected undefined")))
  )
  return useful.map((issue) => {
    const node = locate(doc, issue.path, issue._tag === "Unexpected")
    const keyName = String(issue.path[issue.path.length - 1] ?? "")
    // Never echo a value that may be a secret: one from the environment, one under a secret-looking key, or
    // a whole block (which may hold either).
    const hideValue = (node !== undefined && (fromEnv.has(node) || YAML.isCollection(node))) || secretKey.test(keyName)
    let message = issue.message
    if (issue._tag === "Unexpected") message = `unknown key; ${message.replace(/^is unexpected, expected:/, "expected one of:")}`
    if (issue._tag === "Missing") message = "is required but missing"
    if (hideValue) message = message.replace(/, actual [\s\S]*$/, " (the value is not shown)")
    return { path: issue.path as Path, message, ...position(lines, node) }
  })
}

/** The plugins' own checks across keys (`configIssues`), with paths from the top of the file. */
const pluginIssues = (pipelines: ReadonlyArray<PipelineConfig>, plugins: PluginRegistry): Array<ConfigIssue> =>
  pipelines.flatMap((pipeline, index) =>
    (["source", "sink"] as const).flatMap((role) => {
      const config = pipeline[role]
      const plugin = (role === "source" ? plugins.sources : plugins.sinks).find((candidate) => candidate.type === config.type)
      return (plugin?.configIssues?.(config) ?? []).map((issue) => ({ path: ["pipelines", index, role, ...issue.path], message: issue.message }))
    })
  )

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
      doc.errors.map((error) => {
        const { line, col } = lines.linePos(error.pos[0])
        const key = keyOnLine(doc, lines, line)
        return {
          path: key?.path ?? [],
          message: error.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, ""),
          line,
          column: key?.column ?? col
        }
      })
    )
  }
  if (doc.contents === null) return fail([{ path: [], message: "the file is empty: it needs a top-level 'pipelines:' list" }])
  const { issues: envIssues, fromEnv, retyped } = interpolateDocument(doc, lines, options.env ?? process.env)

  const decode = Schema.decodeUnknownEither(pipelineFileSchema(plugins), { errors: "all", onExcessProperty: "error" })
  let decoded = decode(doc.toJS({ maxAliasCount: 100 }))
  if (Either.isLeft(decoded) && retyped.size > 0) {
    // A value from the environment read as a number where the key wants text: give it back its text.
    let changed = false
    for (const issue of ParseResult.ArrayFormatter.formatErrorSync(decoded.left)) {
      const node = locate(doc, issue.path, false)
      const text = YAML.isScalar(node) ? retyped.get(node) : undefined
      if (YAML.isScalar(node) && text !== undefined) {
        node.value = text
        changed = true
      }
    }
    if (changed) decoded = decode(doc.toJS({ maxAliasCount: 100 }))
  }

  const duplicates: Array<ConfigIssue> = []
  const raw: unknown = doc.toJS({ maxAliasCount: 100 })
  const rawPipelines = typeof raw === "object" && raw !== null && Array.isArray((raw as { pipelines?: unknown }).pipelines) ? ((raw as { pipelines: Array<unknown> }).pipelines) : []
  const seen = new Map<string, number>()
  rawPipelines.forEach((pipeline, index) => {
    const name = typeof pipeline === "object" && pipeline !== null ? (pipeline as { name?: unknown }).name : undefined
    if (typeof name !== "string") return
    const first = seen.get(name)
    if (first === undefined) return void seen.set(name, index)
    const at = ["pipelines", index, "name"]
    duplicates.push({
      path: at,
      message: `pipeline name ${JSON.stringify(name)} is already used by pipelines[${first}]; names must be unique (each names a checkpoint)`,
      ...position(lines, locate(doc, at, false))
    })
  })

  // A key whose environment variable is missing has no value to check: report the variable only.
  const fromSchema = Either.isLeft(decoded)
    ? schemaIssues(decoded.left, doc, lines, fromEnv).filter((issue) => !envIssues.some((envIssue) => startsWith(issue.path, envIssue.path)))
    : []
  const issues = [...envIssues, ...fromSchema, ...duplicates].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0))
  if (issues.length > 0 || Either.isLeft(decoded)) return fail(issues)
  const valid = decoded.right
  const crossKey = pluginIssues(valid.pipelines as ReadonlyArray<PipelineConfig>, plugins).map((issue) => ({
    ...issue,
    ...position(lines, locate(doc, issue.path, true))
  }))
  if (crossKey.length > 0) return fail(crossKey)

  const baseDir = path.dirname(path.resolve(file))
  const stateDir = path.resolve(
    options.stateDir !== undefined ? options.stateDir : path.resolve(baseDir, valid.state ?? ".featbit-export")
  )
  return Either.right({ file, baseDir, stateDir, pipelines: valid.pipelines as ReadonlyArray<PipelineConfig> })
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
