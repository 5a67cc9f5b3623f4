import type * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type { ExportEvent } from "./Event.js"

/**
 * The transform step of a pipeline: between the source's page and the sink's batch, it chooses events
 * (`filter:`), reshapes them (`transform: { set, drop }`) and computes the fields a sink lets the file decide
 * (`sink.map`). The engine applies it and keeps the cursor and dead-letter rules; the expression language is
 * the compiler's business (`@featbit-export/transform-cel`), so this contract knows none.
 */

/** Values a sink lets the pipeline file compute per event (`sink.map`), by field name. */
export type SinkFields = Readonly<Record<string, unknown>>

/** What the transform step made of one event. */
export type TransformOutcome =
  | { readonly _tag: "Keep"; readonly event: ExportEvent; readonly fields?: SinkFields | undefined }
  /** The filter said no: counted as filtered, not dead-lettered; the cursor moves past it. */
  | { readonly _tag: "Filtered" }
  /** An expression failed for this event (a missing key, an unexpected type): the event is dead-lettered. */
  | { readonly _tag: "Failed"; readonly reason: string }

/** One compiled expression, as `validate` shows it. */
export interface CompiledExpression {
  /** Where it is written, relative to the pipeline: `filter`, `transform.set.properties.plan`, `sink.map.event`. */
  readonly at: string
  readonly source: string
  /** The type the compiler inferred (`bool`, `string`, `map<string, dyn>`, ...). */
  readonly type: string
}

export interface EventTransform {
  /**
   * Filter, set and drop, then the sink's fields, for one event as the source read it. It may reshape the
   * event it is given in place (a copy per event cost more than the expressions), so give it an event nothing
   * else holds; an event it filters out or fails on is left as it was.
   */
  readonly apply: (event: ExportEvent) => TransformOutcome
  /**
   * The sink's fields alone, for an event that has been through `apply` already (a dead letter the sink
   * refused, replayed): `Keep` with the same event, or `Failed`.
   */
  readonly mapOnly: (event: ExportEvent) => TransformOutcome
  readonly expressions: ReadonlyArray<CompiledExpression>
}

/** A type of value an expression may give a sink field. */
export const FieldType = Schema.Literal("string", "bool", "int", "double", "map", "list", "dyn")
export type FieldType = typeof FieldType.Type

/** A field of a sink's output that a pipeline file may compute (`sink.map.<name>`), declared by the sink plugin. */
export interface MappableField {
  readonly type: FieldType
  readonly description: string
}

/** The keys `filter:` and `transform:` of one pipeline, and `map:` of its sink, as written. */
export interface TransformSpec {
  readonly filter?: string | undefined
  readonly set?: Readonly<Record<string, string>> | undefined
  readonly drop?: ReadonlyArray<string> | undefined
  readonly map?: Readonly<Record<string, string>> | undefined
}

/**
 * A mistake in an expression, at `path` relative to the pipeline (`["transform", "set", "plan"]`); `offset`
 * is the character inside the expression where it lies, for the file's line and column.
 */
export interface ExpressionIssue {
  readonly path: ReadonlyArray<string | number>
  readonly message: string
  readonly offset?: number | undefined
}

/** Turns a pipeline's spec into its transform step, or says what is wrong with each expression. */
export interface TransformCompiler {
  readonly compile: (
    spec: TransformSpec,
    sink: { readonly type: string; readonly fields: Readonly<Record<string, MappableField>> }
  ) => Either.Either<EventTransform, ReadonlyArray<ExpressionIssue>>
}

/** Longer expressions are refused when the file loads: the expression library itself sets no bound on length. */
export const MAX_EXPRESSION_LENGTH = 4_000

const Expression = Schema.String.pipe(
  Schema.minLength(1, { message: () => "an empty expression: write one, or remove the key" }),
  Schema.maxLength(MAX_EXPRESSION_LENGTH, {
    message: () => `an expression of more than ${MAX_EXPRESSION_LENGTH} characters: split the work over several keys`
  })
).annotations({ description: "A CEL expression over the canonical event (see docs/transforms.md)" })

/** `filter:` of a pipeline. */
export const FilterSetting = Expression.annotations({
  description: 'A CEL expression over the canonical event: only events for which it is true are exported, e.g. event == "FlagValue" && sendToExperiment'
})

/** `transform:` of a pipeline. */
export const TransformSetting = Schema.Struct({
  set: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Expression }), { exact: true }).annotations({
    description: "Fields computed by CEL expressions, added or replaced: a top-level field, or a key under properties or tags (properties.plan)"
  }),
  drop: Schema.optionalWith(Schema.Array(Schema.String), { exact: true }).annotations({
    description: "Fields removed: a top-level field, or a key under properties, tags or user (user.name)"
  })
}).annotations({ description: "Reshapes each event (after filter:, before the sink's map:)" })

/** `map:` of a sink block, for the fields its plugin declares mappable. */
export const mapSetting = (fields: Readonly<Record<string, MappableField>>) =>
  Schema.Struct(
    Object.fromEntries(
      Object.entries(fields).map(([name, field]) => [
        name,
        Schema.optionalWith(Expression.annotations({ description: `${field.description} (a CEL expression of type ${field.type})` }), { exact: true })
      ])
    )
  ).annotations({ description: "The destination's own fields, computed by CEL expressions over the (transformed) event" })

/** What a pipeline's `tests:` entry declares: an input event and the expected result. */
export const TransformTest = Schema.Struct({
  name: Schema.optionalWith(Schema.String, { exact: true }),
  input: Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({
    description: "The event as the source gives it; keys left out take the values of an example event of its kind"
  }),
  expect: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.Unknown }), { exact: true }).annotations({
    description: "Fields the transformed event must have, with these values (others are not compared); `sink:` holds the sink's mapped fields"
  }),
  filtered: Schema.optionalWith(Schema.Boolean, { exact: true }).annotations({ description: "true: the filter must drop the event" })
}).annotations({ description: "A test of this pipeline's filter, transform and sink map, run by `featbit-export test`" })
export type TransformTest = typeof TransformTest.Type
