import * as fs from "node:fs/promises"
import * as path from "node:path"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as JSONSchema from "effect/JSONSchema"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as YAML from "yaml"
import { type ConfigIssue, ConfigError } from "./Errors.js"
import { errorText } from "./internal/files.js"
import { type ListenAddress, ListenSetting } from "./Listen.js"
import { interpolate } from "./Interpolate.js"
import { schemaIssues as describeIssues } from "./internal/schemaMessages.js"
import { MAX_ALIAS_COUNT, MAX_FILE_BYTES, MAX_ISSUES, checkStructure, checkText, decodeFile, parseDocument, tooLarge } from "./internal/yamlLimits.js"
import { EnrichSetting } from "./Enrich.js"
import { ClusterSetting, type PostgresStateSetting, StateSetting, sharedStateOf } from "./SharedState.js"
import { sourceOffset } from "./internal/scalarOffsets.js"
import type { AnySinkPlugin, AnySourcePlugin } from "./Plugin.js"
import { type EventTransform, FilterSetting, type TransformCompiler, TransformSetting, type TransformSpec, TransformTest, mapSetting } from "./Transform.js"
import { RetryPolicy, defaultRetryPolicy } from "./Retry.js"
import { DurationSetting, NonNegativeInt, PositiveInt, atMost, durationAtLeast, showValue } from "./Settings.js"
import { MAX_BATCH_SIZE } from "./SourceFilters.js"

/** The plugins a pipeline file may use. */
export interface PluginRegistry {
  readonly sources: ReadonlyArray<AnySourcePlugin>
  readonly sinks: ReadonlyArray<AnySinkPlugin>
  /** Compiles `filter:`, `transform:` and `sink.map` when the file loads; without it a file using them is refused. */
  readonly transforms?: TransformCompiler | undefined
}

export const PipelineName = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, {
    message: () => "a pipeline name is letters, digits, '.', '_' and '-' (it names the checkpoint file)"
  })
)

/** Batches written at once at most: each holds up to `batch.size` events in memory until it is acknowledged. */
export const MAX_IN_FLIGHT = 64

/** The shortest `pollInterval`: shorter, a caught-up pipeline queries its store more than ten times a second. */
export const MIN_POLL_INTERVAL = Duration.millis(100)

const BatchSettings = Schema.Struct({
  // 5,000: reading FeatBit's ClickHouse in pages of 1k rows runs at half the rate of 5k or 10k (measured in
  // the source's benchmark), and 5k holds half the memory of 10k. Sinks split batches to their own limits.
  size: Schema.optionalWith(
    PositiveInt.pipe(atMost(MAX_BATCH_SIZE, `a page is read and held in memory whole; write at most ${MAX_BATCH_SIZE} rows (default 5000)`)),
    { default: () => 5000, exact: true }
  ).annotations({
    description: `Rows per page read from the source, and so events per batch (default 5000, at most ${MAX_BATCH_SIZE})`
  }),
  inFlight: Schema.optionalWith(
    PositiveInt.pipe(atMost(MAX_IN_FLIGHT, `each batch in flight is held in memory until the sink acknowledges it; write at most ${MAX_IN_FLIGHT} (default 4)`)),
    { default: () => 4, exact: true }
  ).annotations({
    description: `Batches written at once, if the sink allows it (default 4, at most ${MAX_IN_FLIGHT})`
  })
})

const DeadLetterSettings = Schema.Struct({
  max: Schema.optionalWith(NonNegativeInt, { default: () => 1000, exact: true }).annotations({
    description: "Most rows of the last `window` that may be dead-lettered; one more stops the pipeline before the batch is committed (default 1000)"
  }),
  window: Schema.optionalWith(PositiveInt, { default: () => 10_000, exact: true }).annotations({
    description: "How many of the latest rows `max` counts over (default 10000)"
  })
}).annotations({
  description: "A limit on dead letters: when a destination refuses everything, stop with a sentence instead of dead-lettering the whole export"
})

const PollInterval = DurationSetting.pipe(
  durationAtLeast(MIN_POLL_INTERVAL, "a pipeline that has caught up would query its source more than 10 times a second; write 100ms or more (default 5s)")
)

/** The keys every pipeline has, whatever its source and sink. */
export const pipelineSettings = {
  name: PipelineName.annotations({ description: "Unique in the file; also the checkpoint's name" }),
  batch: Schema.optionalWith(BatchSettings, { default: () => ({ size: 5000, inFlight: 4 }), exact: true }),
  retry: Schema.optionalWith(RetryPolicy, { default: () => defaultRetryPolicy, exact: true }),
  deadLetters: Schema.optionalWith(DeadLetterSettings, { default: () => ({ max: 1000, window: 10_000 }), exact: true }),
  mode: Schema.optionalWith(Schema.Literal("follow", "once"), { default: () => "follow" as const, exact: true }).annotations({
    description: "follow: keep polling for new events (default); once: catch up and stop"
  }),
  pollInterval: Schema.optionalWith(PollInterval, { default: () => Duration.seconds(5), exact: true }).annotations({
    description: "In follow mode, the wait between two reads once caught up: a duration with a unit, at least 100ms (default 5s)"
  }),
  slices: Schema.optionalWith(Schema.Int.pipe(Schema.between(2, 64)), { exact: true }).annotations({
    description:
      "A backfill on many runners: the source's startAt..endAt split into this many time slices, each run (once) by whichever runner takes it, each with its own cursor; the live export goes on from endAt beside them. Needs state: postgres://..."
  }),
  enrich: Schema.optionalWith(EnrichSetting, { exact: true }),
  filter: Schema.optionalWith(FilterSetting, { exact: true }),
  transform: Schema.optionalWith(TransformSetting, { exact: true }),
  tests: Schema.optionalWith(Schema.Array(TransformTest), { exact: true }).annotations({
    description: "Tests of the filter, transform and sink map, run by `featbit-export test <file>`"
  })
}

/** A plugin's decoded config: its `type` and its own keys. */
export interface PluginConfig {
  readonly type: string
  readonly [key: string]: unknown
}

const pluginVariants = (plugins: ReadonlyArray<AnySourcePlugin | AnySinkPlugin>) =>
  plugins.map((plugin) =>
    // A sink whose shape the file may compute says which fields: `map:` offers exactly those.
    (plugin.kind === "sink" && plugin.mappable !== undefined
      ? (Schema.Struct({ type: Schema.Literal(plugin.type), map: Schema.optionalWith(mapSetting(plugin.mappable), { exact: true }) }) as unknown as Schema.Struct<{ type: Schema.Literal<[string]> }>)
      : Schema.Struct({ type: Schema.Literal(plugin.type) }))
      .pipe(Schema.extend(plugin.config))
      .annotations({ title: `${plugin.kind} ${plugin.type}`, description: plugin.description })
  )

const configUnion = (plugins: ReadonlyArray<AnySourcePlugin | AnySinkPlugin>): Schema.Schema<PluginConfig, unknown> =>
  // Plugin schemas need no services to decode; the erased plugin type cannot say so.
  Schema.Union(...pluginVariants(plugins)) as unknown as Schema.Schema<PluginConfig, unknown>

/**
 * For editors only: a block that names a community plugin by its npm package (`use:`). Its keys are the
 * package's, which no editor can know, so any key is allowed, except `type` (a block names its plugin one
 * way). Decoding never meets it: the runner loads the package and reads `use` as `type` first.
 */
const communityBlock = (kind: "source" | "sink") =>
  Schema.Struct({ use: Schema.String }).annotations({
    jsonSchema: {
      type: "object",
      title: `community ${kind}`,
      description: `A community ${kind} plugin, named by its npm package and installed beside the pipeline file; its other keys are the package's own`,
      required: ["use"],
      properties: {
        use: {
          type: "string",
          minLength: 1,
          description: `The npm package of the plugin, e.g. "@acme/featbit-export-${kind}-kafka" (quoted: a plain YAML value cannot start with @)`
        }
      },
      not: { required: ["type"] }
    }
  })

/** What an editor accepts for a source or sink: a plugin's variant or a community block, in one flat anyOf. */
const editorUnion = (kind: "source" | "sink", plugins: ReadonlyArray<AnySourcePlugin | AnySinkPlugin>): Schema.Schema<unknown, unknown> =>
  Schema.Union(...pluginVariants(plugins), communityBlock(kind)) as unknown as Schema.Schema<unknown, unknown>

/** The schema of a whole pipeline file, composed from the plugins' own config schemas. */
export const pipelineFileSchema = (plugins: PluginRegistry) => fileSchema(configUnion(plugins.sources), configUnion(plugins.sinks))

const fileSchema = <Source, Sink>(source: Schema.Schema<Source, unknown>, sink: Schema.Schema<Sink, unknown>) =>
  Schema.Struct({
    state: Schema.optionalWith(StateSetting, { exact: true }),
    cluster: Schema.optionalWith(ClusterSetting, { exact: true }),
    server: Schema.optionalWith(
      Schema.Struct({ listen: ListenSetting }).annotations({
        description: "The runner's HTTP endpoint (/metrics, /healthz, /readyz, /status); off unless given (or --listen)"
      }),
      { exact: true }
    ),
    pipelines: Schema.NonEmptyArray(
      Schema.Struct({
        ...pipelineSettings,
        source,
        sink
      })
    )
  })

type Decoded = Schema.Schema.Type<ReturnType<typeof pipelineFileSchema>>
type PipelineBase = Omit<Decoded["pipelines"][number], "source" | "sink">

/** One pipeline of a file, decoded: its settings and its plugins' configs (secrets `Redacted`). */
export interface PipelineConfig extends PipelineBase {
  readonly source: PluginConfig
  readonly sink: PluginConfig
  /** The compiled `filter:`, `transform:` and `sink.map`, when the pipeline has any. */
  readonly transformStep?: EventTransform | undefined
}

export interface PipelineFile {
  /** The file as given, for messages. */
  readonly file: string
  /** Its folder: relative paths in it are resolved against it. */
  readonly baseDir: string
  /** The absolute state folder (checkpoints, dead letters, unless `sharedState`; locks). */
  readonly stateDir: string
  /** The PostgreSQL store runners share, when `state:` names one: checkpoints and dead letters live there. */
  readonly sharedState?: PostgresStateSetting | undefined
  /** How runners sharing `sharedState` divide the pipelines (defaults filled in when it is set). */
  readonly cluster?: ClusterSetting | undefined
  /** Where the runner serves its HTTP endpoint, when the file asks for one. */
  readonly server?: { readonly listen: ListenAddress } | undefined
  readonly pipelines: ReadonlyArray<PipelineConfig>
}

/** The JSON Schema of pipeline files, for editors (`# yaml-language-server: $schema=...`). */
export const jsonSchema = (plugins: PluginRegistry): object => ({
  ...JSONSchema.make(fileSchema(editorUnion("source", plugins.sources), editorUnion("sink", plugins.sinks))),
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

/** Where a plugin's `type` is written: `pipelines[i].source.type` or `pipelines[i].sink.type`. */
const pluginRole = (path: ReadonlyArray<PropertyKey>): "source" | "sink" | undefined =>
  path.length === 4 && path[0] === "pipelines" && (path[2] === "source" || path[2] === "sink") && path[3] === "type" ? path[2] : undefined

const clip = (message: string): string => (message.length > 500 ? `${message.slice(0, 497)}...` : message)

const schemaIssues = (
  error: ParseResult.ParseError,
  doc: YAML.Document,
  lines: YAML.LineCounter,
  fromEnv: Set<YAML.Node>,
  plugins: PluginRegistry
): Array<ConfigIssue> =>
  describeIssues(error.issue).map((issue) => {
    const node = locate(doc, issue.path, issue.tag === "Unexpected")
    const keyName = String(issue.path[issue.path.length - 1] ?? "")
    // Never echo a value that may be a secret: one from the environment, one under a secret-looking key, or
    // a whole block (which may hold either) quoted by a plugin's own message.
    const hideValue = (node !== undefined && (fromEnv.has(node) || (issue.custom && YAML.isCollection(node)))) || secretKey.test(keyName)
    let message = hideValue ? issue.hidden : issue.message
    const role = pluginRole(issue.path)
    if (role !== undefined) {
      // The type decides which keys are allowed: say which types there are, not the union's AST.
      const known = (role === "source" ? plugins.sources : plugins.sinks).map((plugin) => JSON.stringify(plugin.type)).join(", ")
      const given = YAML.isScalar(node) && !hideValue ? `${showValue(node.value)} is not a ${role} type` : `not a ${role} type`
      message =
        issue.tag === "Missing"
          ? `is required: it says which ${role} this is, one of: ${known}`
          : `${given}; the known types are: ${known} (a community plugin is named with use: <npm package>)`
    }
    return { path: issue.path as Path, message: clip(message), ...position(lines, node) }
  })

/** The plugins' own checks across keys (`configIssues`), with paths from the top of the file. */
const pluginIssues = (pipelines: ReadonlyArray<PipelineConfig>, plugins: PluginRegistry): Array<ConfigIssue> =>
  pipelines.flatMap((pipeline, index) =>
    (["source", "sink"] as const).flatMap((role) => {
      const config = pipeline[role]
      const plugin = (role === "source" ? plugins.sources : plugins.sinks).find((candidate) => candidate.type === config.type)
      return (plugin?.configIssues?.(config) ?? []).map((issue) => ({ path: ["pipelines", index, role, ...issue.path], message: clip(issue.message) }))
    })
  )

/**
 * `slices:` needs what it splits and where the slices meet: a source window (startAt and endAt), a shared state
 * (the slices run on several runners), and a sink many runners may write at once (not a local file).
 */
const sliceIssues = (pipelines: ReadonlyArray<PipelineConfig>, plugins: PluginRegistry, shared: boolean, baseDir: string): Array<ConfigIssue> =>
  pipelines.flatMap((pipeline, index): Array<ConfigIssue> => {
    const n = pipeline.slices
    if (n === undefined) return []
    const at = ["pipelines", index, "slices"]
    if (!shared) return [{ path: at, message: `slices: ${n} runs the slices on runners sharing a PostgreSQL state; set state: postgres://... (or remove slices)` }]
    const source = pipeline.source as { readonly startAt?: unknown; readonly endAt?: unknown }
    if (typeof source.startAt !== "string" || typeof source.endAt !== "string") {
      return [{ path: at, message: `slices: ${n} splits the source's startAt..endAt into ${n} windows; set both in source (the backfill's first instant and where the live export takes over)` }]
    }
    const sink = plugins.sinks.find((candidate) => candidate.type === pipeline.sink.type)
    const local = sink?.resources?.(pipeline.sink as never, { pipeline: pipeline.name, baseDir }) ?? []
    return local.length === 0
      ? []
      : [{ path: at, message: `slices: ${n} writes ${n + 1} parts at once from several runners, and sink ${pipeline.sink.type} writes ${local[0]!.label ?? local[0]!.id}, which has one writer; use a sink many runners can write to (segment, eventhub), or remove slices` }]
  })

/**
 * What the plugins say their pipelines use exclusively (`resources`), claimed by one pipeline only: two
 * pipelines appending to one file would interleave their batches and rotate each other's files.
 */
const resourceIssues = (
  pipelines: ReadonlyArray<PipelineConfig>,
  plugins: PluginRegistry,
  baseDir: string,
  doc: YAML.Document,
  lines: YAML.LineCounter,
  fromEnv: Set<YAML.Node>
): Array<ConfigIssue> => {
  const claimed = new Map<string, { readonly index: number; readonly name: string }>()
  const issues: Array<ConfigIssue> = []
  pipelines.forEach((pipeline, index) => {
    for (const role of ["source", "sink"] as const) {
      const config = pipeline[role]
      const plugin = (role === "source" ? plugins.sources : plugins.sinks).find((candidate) => candidate.type === config.type)
      for (const resource of plugin?.resources?.(config, { pipeline: pipeline.name, baseDir }) ?? []) {
        const key = `${resource.kind}\u0000${resource.id}`
        const first = claimed.get(key)
        if (first === undefined) {
          claimed.set(key, { index, name: pipeline.name })
          continue
        }
        const at = ["pipelines", index, role, ...resource.path]
        const node = locate(doc, at, false)
        const label = node !== undefined && fromEnv.has(node) ? `this ${resource.kind}` : (resource.label ?? resource.id)
        issues.push({
          path: at,
          message: clip(`${label} is also ${role === "sink" ? "written" : "used"} by pipelines[${first.index}] (${first.name}); give each pipeline its own ${resource.kind}`),
          ...position(lines, node)
        })
      }
    }
  })
  return issues
}

/** A syntax error of the `yaml` parser, in words that say what to do (yaml's own, for the others). */
const yamlIssue = (doc: YAML.Document, lines: YAML.LineCounter, error: YAML.YAMLError): ConfigIssue => {
  const { line, col } = lines.linePos(error.pos[0])
  const key = keyOnLine(doc, lines, line)
  const own = error.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "")
  const message =
    error.code === "DUPLICATE_KEY"
      ? "duplicate key: it is already given in this block; keep one"
      : error.code === "TAB_AS_INDENT"
        ? "a tab indents this line: YAML indents with spaces only"
        : own
  return { path: key?.path ?? [], message: clip(message), line, column: key?.column ?? col }
}

// Mistakes that leave the parser on track: the ones after them are mistakes of their own.
const independent = new Set<YAML.ErrorCode>(["DUPLICATE_KEY", "TAB_AS_INDENT", "KEY_OVER_1024_CHARS", "BAD_DQ_ESCAPE", "MULTIPLE_ANCHORS", "MULTIPLE_TAGS", "TAG_RESOLVE_FAILED"])

/** The first syntax error, and the later ones that are not its echoes (an unclosed bracket upsets every line after it). */
const syntaxErrors = (errors: ReadonlyArray<YAML.YAMLError>): Array<YAML.YAMLError> => {
  const sorted = [...errors].sort((a, b) => a.pos[0] - b.pos[0])
  return sorted.filter((error, i) => i === 0 || (independent.has(error.code) && independent.has(sorted[0]!.code)))
}

/** Aliases (`*name`) whose anchor (`&name`) is not defined before them, which `yaml` only finds when converting. */
const unresolvedAliases = (doc: YAML.Document, lines: YAML.LineCounter): Array<ConfigIssue> => {
  const issues: Array<ConfigIssue> = []
  YAML.visit(doc, {
    Alias(_, alias, ancestors) {
      if (alias.resolve(doc) !== undefined) return
      issues.push({
        path: keyPath(ancestors, alias),
        message: clip(`*${alias.source} refers to no anchor: define &${alias.source} on a value above it`),
        ...position(lines, alias)
      })
    }
  })
  return issues
}

/**
 * `<<` keys: YAML 1.2 has no merge keys, so `<<: *base` would be a key named "<<" and the block would lack
 * every key it meant to take from `base`. Said once, at the key, rather than as the missing keys it causes.
 */
const mergeKeys = (doc: YAML.Document, lines: YAML.LineCounter): Array<ConfigIssue> => {
  const issues: Array<ConfigIssue> = []
  YAML.visit(doc, {
    Pair(_, pair, ancestors) {
      if (!YAML.isScalar(pair.key) || pair.key.value !== "<<") return
      issues.push({
        path: [...keyPath(ancestors, pair), "<<"],
        message: "YAML merge keys (<<) are not supported: write the keys out, or alias the whole block (source: *name)",
        ...position(lines, pair.key)
      })
    }
  })
  return issues
}

/**
 * The document as plain values, with aliases expanded at most `MAX_ALIAS_COUNT` times: `yaml` throws past
 * it, which is how a billion-laughs file is refused in a millisecond instead of filling the memory.
 */
const toPlain = (doc: YAML.Document, lines: YAML.LineCounter): Either.Either<unknown, ConfigIssue> => {
  try {
    return Either.right(doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }))
  } catch (cause) {
    if (!(cause instanceof ReferenceError) || !/alias/i.test(cause.message)) throw cause
    let first: YAML.Node | undefined
    YAML.visit(doc, {
      Alias(_, alias) {
        first = alias
        return YAML.visit.BREAK
      }
    })
    return Either.left({
      path: [],
      message: `the aliases (*name) of this file expand to more than ${MAX_ALIAS_COUNT} copies of their blocks, more than any pipeline file needs: write the repeated blocks out, or alias fewer`,
      ...position(lines, first)
    })
  }
}

/** At most `MAX_ISSUES`, in file order: past them the file is not the one the person meant to give. */
const firstIssues = (issues: ReadonlyArray<ConfigIssue>): Array<ConfigIssue> => {
  const sorted = [...issues].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0))
  if (sorted.length <= MAX_ISSUES) return sorted
  return [...sorted.slice(0, MAX_ISSUES), { path: [], message: `and ${sorted.length - MAX_ISSUES} more mistakes: fix these first` }]
}

export interface LoadOptions {
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Overrides the file's `state` key (the runner's `--state-dir`). */
  readonly stateDir?: string | undefined
}

/**
 * Decodes pipeline-file text. `file` only names it in messages and anchors relative paths. Text that
 * cannot be a pipeline file (too large, binary, nested too deep, several documents, an alias bomb) is
 * refused with one sentence before anything is built from it.
 */
export const parse = (
  text: string,
  file: string,
  plugins: PluginRegistry,
  options: LoadOptions = {}
): Either.Either<PipelineFile, ConfigError> => {
  const fail = (issues: ReadonlyArray<ConfigIssue>) => Either.left(new ConfigError({ file, issues: firstIssues(issues) }))
  const unfit = checkText(text)
  if (unfit !== undefined) return fail([unfit])
  const lines = new YAML.LineCounter()
  const parsed = parseDocument(text, lines, { prettyErrors: false, uniqueKeys: true })
  if ("issue" in parsed) return fail([parsed.issue])
  const doc = parsed.doc
  if (doc.errors.length > 0) return fail(syntaxErrors(doc.errors).map((error) => yamlIssue(doc, lines, error)))
  if (doc.contents === null) return fail([{ path: [], message: "the file is empty: it needs a top-level 'pipelines:' list" }])
  const dangling = [...unresolvedAliases(doc, lines), ...mergeKeys(doc, lines)]
  if (dangling.length > 0) return fail(dangling)
  const { issues: envIssues, fromEnv, retyped } = interpolateDocument(doc, lines, options.env ?? process.env)

  const plain = toPlain(doc, lines)
  if (Either.isLeft(plain)) return fail([plain.left])
  const decode = Schema.decodeUnknownEither(pipelineFileSchema(plugins), { errors: "all", onExcessProperty: "error" })
  let decoded = decode(plain.right)
  if (Either.isLeft(decoded) && retyped.size > 0) {
    // A value from the environment read as a number where the key wants text: give it back its text.
    let changed = false
    for (const issue of describeIssues(decoded.left.issue)) {
      const node = locate(doc, issue.path, false)
      const text = YAML.isScalar(node) ? retyped.get(node) : undefined
      if (YAML.isScalar(node) && text !== undefined) {
        node.value = text
        changed = true
      }
    }
    if (changed) decoded = decode(doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }))
  }

  const duplicates: Array<ConfigIssue> = []
  const raw = plain.right
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
      message: clip(`pipeline name ${JSON.stringify(name)} is already used by pipelines[${first}]; names must be unique (each names a checkpoint)`),
      ...position(lines, locate(doc, at, false))
    })
  })

  // A key whose environment variable is missing has no value to check: report the variable only.
  const fromSchema = Either.isLeft(decoded)
    ? schemaIssues(decoded.left, doc, lines, fromEnv, plugins).filter((issue) => !envIssues.some((envIssue) => startsWith(issue.path, envIssue.path)))
    : []
  const issues = [...envIssues, ...fromSchema, ...duplicates]
  if (issues.length > 0 || Either.isLeft(decoded)) return fail(issues)
  const valid = decoded.right
  const pipelines = valid.pipelines as ReadonlyArray<PipelineConfig>
  const crossKey = pluginIssues(pipelines, plugins).map((issue) => ({
    ...issue,
    ...position(lines, locate(doc, issue.path, true))
  }))
  if (crossKey.length > 0) return fail(crossKey)

  const baseDir = path.dirname(path.resolve(file))
  const shared = resourceIssues(pipelines, plugins, baseDir, doc, lines, fromEnv)
  if (shared.length > 0) return fail(shared)
  const compiled = compileTransforms(pipelines, plugins, text, doc, lines)
  if (Either.isLeft(compiled)) return fail(compiled.left)
  const sharedState = sharedStateOf(valid.state)
  const sliced = sliceIssues(pipelines, plugins, sharedState !== undefined, baseDir).map((issue) => ({ ...issue, ...position(lines, locate(doc, issue.path, true)) }))
  if (sliced.length > 0) return fail(sliced)
  if (sharedState === undefined && valid.cluster !== undefined) {
    return fail([{ path: ["cluster"], message: "cluster: divides pipelines among runners sharing a PostgreSQL state; set state: postgres://... (or remove cluster:)", ...position(lines, locate(doc, ["cluster"], true)) }])
  }
  const folder = typeof valid.state === "string" && sharedState === undefined ? valid.state : ".featbit-export"
  const stateDir = path.resolve(options.stateDir !== undefined ? options.stateDir : path.resolve(baseDir, folder))
  return Either.right({
    file,
    baseDir,
    stateDir,
    ...(valid.server === undefined ? {} : { server: valid.server }),
    ...(sharedState === undefined ? {} : { sharedState, cluster: valid.cluster ?? Schema.decodeSync(ClusterSetting)({}) }),
    pipelines: compiled.right
  })
}

/** The transform keys of a pipeline, or undefined when it has none. */
export const transformSpec = (pipeline: PipelineConfig): TransformSpec | undefined => {
  const map = pipeline.sink["map"] as Record<string, string> | undefined
  const spec: TransformSpec = {
    ...(pipeline.filter === undefined ? {} : { filter: pipeline.filter }),
    ...(pipeline.transform?.set === undefined ? {} : { set: pipeline.transform.set }),
    ...(pipeline.transform?.drop === undefined ? {} : { drop: pipeline.transform.drop }),
    ...(map === undefined || Object.keys(map).length === 0 ? {} : { map })
  }
  return Object.keys(spec).length === 0 ? undefined : spec
}

/**
 * Compiles each pipeline's expressions. A mistake is placed at its line and column in the file, also inside a
 * quoted, block (|) or folded (>) expression.
 */
const compileTransforms = (
  pipelines: ReadonlyArray<PipelineConfig>,
  plugins: PluginRegistry,
  text: string,
  doc: YAML.Document,
  lines: YAML.LineCounter
): Either.Either<ReadonlyArray<PipelineConfig>, Array<ConfigIssue>> => {
  const issues: Array<ConfigIssue> = []
  const out = pipelines.map((pipeline, index) => {
    const spec = transformSpec(pipeline)
    if (spec === undefined) return pipeline
    const at = (path: ReadonlyArray<string | number>, message: string, offset?: number): ConfigIssue => {
      const full = ["pipelines", index, ...path]
      const node = locate(doc, full, false)
      const inside = offset !== undefined && YAML.isScalar(node) ? sourceOffset(text, node, offset) : undefined
      if (inside === undefined) return { path: full, message: clip(message), ...position(lines, node) }
      const { line, col } = lines.linePos(inside)
      return { path: full, message: clip(message), line, column: col }
    }
    if (plugins.transforms === undefined) {
      issues.push(at([spec.filter !== undefined ? "filter" : spec.map !== undefined ? "sink" : "transform"], "expressions need a compiler this runner was not given (@featbit-export/transform-cel)"))
      return pipeline
    }
    const sink = plugins.sinks.find((plugin) => plugin.type === pipeline.sink.type)
    const result = plugins.transforms.compile(spec, { type: pipeline.sink.type, fields: sink?.mappable ?? {} })
    if (Either.isLeft(result)) {
      issues.push(...result.left.map((issue) => at(issue.path, issue.message, issue.offset)))
      return pipeline
    }
    return { ...pipeline, transformStep: result.right }
  })
  return issues.length > 0 ? Either.left(issues) : Either.right(out)
}

const unreadable = (file: string, message: string) => new ConfigError({ file, issues: [{ path: [], message }] })

/**
 * Reads a pipeline file's text, refusing what cannot be one before any YAML parser sees it: a folder, more
 * than 1 MB (reading no further, so `/dev/zero` or a 50 GB log is refused at once), binary or non-UTF-8
 * bytes, nesting past 64 levels, several documents. What it returns is safe to parse.
 */
export const readText = (file: string): Effect.Effect<string, ConfigError> =>
  Effect.tryPromise({
    try: () => readBounded(file),
    catch: (cause) => {
      const code = (cause as NodeJS.ErrnoException).code
      return unreadable(
        file,
        code === "ENOENT"
          ? "no such file"
          : code === "EISDIR"
            ? folderGiven
            : code === "EACCES" || code === "EPERM"
              ? "cannot be read: permission denied"
              : `cannot read the file (${code ?? errorText(cause)})`
      )
    }
  }).pipe(
    Effect.flatMap((bytes) => {
      if (typeof bytes === "string") return Effect.fail(unreadable(file, bytes))
      const decoded = decodeFile(bytes)
      const issue = "issue" in decoded ? decoded.issue : checkStructure(decoded.text)
      return issue === undefined && "text" in decoded ? Effect.succeed(decoded.text) : Effect.fail(new ConfigError({ file, issues: [issue!] }))
    })
  )

const folderGiven = "is a folder, not a pipeline file: give the path of a .yaml file in it"

/** The file's bytes, or why there are none to parse; reads at most one byte past the limit. */
const readBounded = async (file: string): Promise<Uint8Array | string> => {
  const handle = await fs.open(file, "r")
  try {
    const stat = await handle.stat()
    if (stat.isDirectory()) return folderGiven
    if (stat.isFile() && stat.size > MAX_FILE_BYTES) return tooLarge(stat.size).message
    const buffer = Buffer.alloc(MAX_FILE_BYTES + 1)
    let total = 0
    for (;;) {
      const { bytesRead } = await handle.read(buffer, total, buffer.length - total, null)
      if (bytesRead === 0) return buffer.subarray(0, total)
      total += bytesRead
      // A pipe or a device has no size to check first.
      if (total > MAX_FILE_BYTES) return tooLarge(total).message
    }
  } finally {
    await handle.close()
  }
}

/** Reads and decodes a pipeline file. */
export const load = (
  file: string,
  plugins: PluginRegistry,
  options: LoadOptions = {}
): Effect.Effect<PipelineFile, ConfigError> =>
  readText(file).pipe(Effect.flatMap((text) => parse(text, file, plugins, options)))
