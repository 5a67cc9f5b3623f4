import type * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type { SinkError, SourceError } from "./Errors.js"
import type { ExportEvent } from "./Event.js"
import type { Sink } from "./Sink.js"
import type { Source } from "./Source.js"
import type { MappableField, SinkFields } from "./Transform.js"

/**
 * The version of the Source/Sink contract this core implements. A plugin declares the version it was
 * written against; the runner refuses plugins written for another one.
 */
export const CONTRACT_VERSION = 1

/**
 * A mistake in a plugin's keys that its schema cannot express (two keys that exclude each other, a window
 * that selects nothing). `path` is relative to the plugin's block, so the pipeline file can name the line.
 */
export interface PluginConfigIssue {
  readonly path: ReadonlyArray<string | number>
  readonly message: string
}

/** What a plugin learns about the pipeline it runs in. */
export interface PluginContext {
  /** The pipeline's name (also its checkpoint key). */
  readonly pipeline: string
  /** The folder of the pipeline file: relative paths in a configuration are resolved against it. */
  readonly baseDir: string
}

/**
 * Something a pipeline uses exclusively, as its plugin declares it (`resources`): two pipelines of one file
 * claiming the same `kind` and `id` are refused when the file loads, at the key `path` names (relative to
 * the plugin's block). `id` must identify the thing whatever the spelling (an absolute path, not the one
 * written); `label` names it in the sentence (default: `id`); `kind` is a noun: "give each pipeline its
 * own <kind>".
 */
export interface PluginResource {
  readonly kind: string
  readonly id: string
  readonly path: ReadonlyArray<string | number>
  readonly label?: string | undefined
}

/**
 * A source plugin. `config` lists the plugin's own keys (without `type`); the runner decodes the
 * pipeline file with it, so errors point at the offending line, and secrets declared with
 * `Schema.Redacted` are never printed. `make` opens clients in the given scope and closes them when the
 * pipeline stops.
 */
export interface SourcePlugin<Fields extends Schema.Struct.Fields = Schema.Struct.Fields> {
  readonly kind: "source"
  readonly type: string
  readonly contract: number
  readonly description: string
  readonly config: Schema.Struct<Fields>
  /** Checks across keys, run when the file loads (`validate` included): each issue exits 2 at its line. */
  readonly configIssues?: (config: Schema.Struct.Type<Fields>) => ReadonlyArray<PluginConfigIssue>
  /** What this config uses that no other pipeline may use too; checked when the file loads. Touches nothing. */
  readonly resources?: (config: Schema.Struct.Type<Fields>, context: PluginContext) => ReadonlyArray<PluginResource>
  readonly make: (
    config: Schema.Struct.Type<Fields>,
    context: PluginContext
  ) => Effect.Effect<Source, SourceError, Scope.Scope>
}

/**
 * A sink plugin; see `SourcePlugin`. `render` shows what an event looks like at the destination (`preview`),
 * with the fields the file's `map:` computed for it. `mappable` lists the fields of the destination's shape
 * that a pipeline file may compute (`sink.map.<name>`, CEL expressions checked against `type` when the file
 * loads); the sink finds their values in `SinkBatch.fields`.
 */
export interface SinkPlugin<Fields extends Schema.Struct.Fields = Schema.Struct.Fields> {
  readonly kind: "sink"
  readonly type: string
  readonly contract: number
  readonly description: string
  readonly config: Schema.Struct<Fields>
  /** Checks across keys, run when the file loads; see `SourcePlugin.configIssues`. */
  readonly configIssues?: (config: Schema.Struct.Type<Fields>) => ReadonlyArray<PluginConfigIssue>
  /** What this config writes that no other pipeline may write too (a file); see `SourcePlugin.resources`. */
  readonly resources?: (config: Schema.Struct.Type<Fields>, context: PluginContext) => ReadonlyArray<PluginResource>
  readonly make: (config: Schema.Struct.Type<Fields>, context: PluginContext) => Effect.Effect<Sink, SinkError, Scope.Scope>
  readonly render?: (config: Schema.Struct.Type<Fields>) => (event: ExportEvent, fields?: SinkFields) => unknown
  readonly mappable?: Readonly<Record<string, MappableField>>
}

// Plugins are stored side by side whatever their config type; `any` erases it at that one point.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnySourcePlugin = SourcePlugin<any>
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnySinkPlugin = SinkPlugin<any>
export type AnyPlugin = AnySourcePlugin | AnySinkPlugin

/** Declares a source plugin written against this core's contract. */
export const defineSource = <Fields extends Schema.Struct.Fields>(
  definition: Omit<SourcePlugin<Fields>, "kind" | "contract">
): SourcePlugin<Fields> => ({ kind: "source", contract: CONTRACT_VERSION, ...definition })

/** Declares a sink plugin written against this core's contract. */
export const defineSink = <Fields extends Schema.Struct.Fields>(
  definition: Omit<SinkPlugin<Fields>, "kind" | "contract">
): SinkPlugin<Fields> => ({ kind: "sink", contract: CONTRACT_VERSION, ...definition })
