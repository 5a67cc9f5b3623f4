import type {
  CompiledExpression,
  EventTransform,
  ExportEvent,
  ExpressionIssue,
  MappableField,
  SinkFields,
  TransformCompiler,
  TransformOutcome,
  TransformSpec
} from "@featbit-export/core"
import { Environment } from "@marcbachmann/cel-js"
import * as Either from "effect/Either"
import { EVENT_VARIABLES, type FieldPath, KIND_ONLY, fieldPath } from "./EventFields.js"
import { UnfitValue, canBe, fits, toPlain } from "./Values.js"

type Evaluate = (context: object) => unknown

interface Compiled {
  readonly at: string
  readonly source: string
  readonly type: string
  readonly run: Evaluate
}

/** What a CEL error says, without the library's source excerpt (the file's line and column replace it). */
const summaryOf = (error: unknown): { readonly summary: string; readonly code: string | undefined; readonly offset: number | undefined } => {
  const e = error as { summary?: string; message?: string; code?: string; range?: { start: number } }
  const summary = e.summary ?? String(e.message ?? error).split("\n")[0]!
  return { summary, code: e.code, offset: e.range?.start }
}

const environmentOptions = {
  enableOptionalTypes: true,
  // Map literals may mix value types ({"flag": flagKey, "value": numericValue}): events are JSON.
  homogeneousAggregateLiterals: false,
  unlistedVariablesAreDyn: false
} as const

/** The environment over the canonical event; built once (the library says environments are expensive). */
let eventEnvironment: Environment | undefined
const baseEnvironment = (): Environment => {
  if (eventEnvironment !== undefined) return eventEnvironment
  const env = new Environment(environmentOptions)
  for (const [name, type] of Object.entries(EVENT_VARIABLES)) env.registerVariable(name, type)
  eventEnvironment = env
  return env
}

/** CEL does not mix ints and doubles in arithmetic, and FeatBit's numbers (JSON's) are doubles. */
const numbersHint = (code: string | undefined, summary: string): string =>
  code === "no_such_overload" && /\b(double|dyn<double>) [-+*/%] int\b|\bint [-+*/%] (double|dyn<double>)\b/.test(summary)
    ? " (FeatBit's numbers are doubles in CEL: write 1.0, not 1, or convert with double())"
    : ""

/** An evaluation failure for one event, as its dead letter's reason says it. */
const runtimeReason = (expression: Compiled, error: unknown, event: ExportEvent): string => {
  if (error instanceof UnfitValue) return `${expression.at}: ${error.message} (expression: ${expression.source})`
  const { summary, code } = summaryOf(error)
  const variable = code === "unknown_variable" ? /Unknown variable: (\w+)/.exec(summary)?.[1] : undefined
  const hint =
    variable !== undefined && KIND_ONLY[variable] !== undefined
      ? `: ${variable} is set on ${KIND_ONLY[variable]} events only, and this is a ${event.event} event; test the kind first (event == "FlagValue" && ...)`
      : variable !== undefined
        ? `: this event has no ${variable} (it was dropped, or this source does not give it); test it first, or use a default`
        : code === "no_such_key"
          ? ` in this event; guard it with has(...) or take a default with .?key.orValue(...)`
          : numbersHint(code, summary)
  return `${expression.at}: ${summary}${hint} (expression: ${expression.source})`
}

/**
 * Sets `value` at a place of the event, in place; `undefined` (an empty optional: `optional.none()`) leaves the
 * place as it was, so a set can be conditional. In place because a copy of each event (and of its properties)
 * cost more than all the expressions of a typical transform.
 */
const assign = (target: Record<string, unknown>, path: FieldPath, value: unknown): void => {
  if (value === undefined) return
  if (path._tag === "Top") {
    target[path.name] = value
    return
  }
  let parent = target[path.parent] as Record<string, unknown> | undefined
  if (parent === undefined) {
    parent = {}
    target[path.parent] = parent
  }
  parent[path.key] = value
}

const remove = (target: Record<string, unknown>, path: FieldPath): void => {
  if (path._tag === "Top") return void delete target[path.name]
  const parent = target[path.parent] as Record<string, unknown> | undefined
  if (parent !== undefined) delete parent[path.key]
}

const describe = (path: ReadonlyArray<string | number>): string => path.join(".")

/**
 * Compiles a pipeline's `filter:`, `transform: { set, drop }` and `sink.map` into its transform step. Every
 * expression is parsed and type-checked against the canonical event; every mistake is reported, each with
 * the character inside its expression where it lies.
 */
export const compile: TransformCompiler["compile"] = (spec: TransformSpec, sink) => {
  const issues: Array<ExpressionIssue> = []
  const base = baseEnvironment()

  const check = (env: Environment, path: ReadonlyArray<string | number>, source: string, wanted: string): Compiled | undefined => {
    const at = describe(path)
    const checked = env.check(source)
    if (!checked.valid || checked.type === undefined) {
      const { summary, code, offset } = summaryOf(checked.error)
      const hint =
        code === "unknown_variable"
          ? `; the event's fields are ${Object.keys(EVENT_VARIABLES).join(", ")}`
          : numbersHint(code, summary)
      issues.push({ path, message: `${summary}${hint}`, offset })
      return undefined
    }
    if (!canBe(checked.type, wanted)) {
      issues.push({ path, message: `gives a ${checked.type}, where ${at} needs a ${wanted}`, offset: 0 })
      return undefined
    }
    const run = env.parse(source) as Evaluate
    return { at, source, type: checked.type, run }
  }

  const filter = spec.filter === undefined ? undefined : check(base, ["filter"], spec.filter, "bool")

  const sets: Array<{ readonly path: FieldPath; readonly expression: Compiled }> = []
  for (const [key, source] of Object.entries(spec.set ?? {})) {
    const path = fieldPath(key, "set")
    if (typeof path === "string") {
      issues.push({ path: ["transform", "set", key], message: path })
      continue
    }
    const expression = check(base, ["transform", "set", key], source, path.type)
    if (expression !== undefined) sets.push({ path, expression })
  }

  const drops: Array<FieldPath> = []
  for (const [index, key] of (spec.drop ?? []).entries()) {
    const path = fieldPath(key, "drop")
    if (typeof path === "string") issues.push({ path: ["transform", "drop", index], message: path })
    else drops.push(path)
  }

  // The sink's fields are computed from the transformed event: a field `set:` added is a variable there too.
  const added = sets.filter((s) => s.path._tag === "Top" && EVENT_VARIABLES[s.path.name] === undefined)
  const mapEnvironment = added.length === 0 ? base : added.reduce((env, s) => env.registerVariable((s.path as { name: string }).name, s.expression.type), base.clone())
  const maps: Array<{ readonly name: string; readonly field: MappableField; readonly expression: Compiled }> = []
  for (const [name, source] of Object.entries(spec.map ?? {})) {
    const field = sink.fields[name]
    if (field === undefined) {
      const known = Object.keys(sink.fields)
      issues.push({
        path: ["sink", "map", name],
        message: known.length === 0 ? `the ${sink.type} sink has no fields to map` : `the ${sink.type} sink has no field ${JSON.stringify(name)} to map; it has ${known.join(", ")}`
      })
      continue
    }
    const expression = check(mapEnvironment, ["sink", "map", name], source, field.type)
    if (expression !== undefined) maps.push({ name, field, expression })
  }
  if (issues.length > 0) return Either.left(issues)

  const evaluate = (expression: Compiled, context: object, wanted: string): unknown => {
    const value = toPlain(expression.run(context))
    if (value !== undefined && !fits(value, wanted)) throw new UnfitValue(`gave a ${value === null ? "null" : typeof value === "object" ? (Array.isArray(value) ? "list" : "map") : typeof value}, where a ${wanted} is needed`)
    return value
  }

  const mapOnly = (event: ExportEvent): TransformOutcome => {
    if (maps.length === 0) return { _tag: "Keep", event }
    const fields: Record<string, unknown> = {}
    for (const { name, field, expression } of maps) {
      try {
        const value = evaluate(expression, event, field.type)
        if (value !== undefined) fields[name] = value
      } catch (error) {
        return { _tag: "Failed", reason: runtimeReason(expression, error, event) }
      }
    }
    return { _tag: "Keep", event, fields: fields as SinkFields }
  }

  const apply = (event: ExportEvent): TransformOutcome => {
    let current: ExportEvent = event
    if (filter !== undefined) {
      try {
        const keep = evaluate(filter, event, "bool")
        if (keep !== true) return { _tag: "Filtered" }
      } catch (error) {
        return { _tag: "Failed", reason: runtimeReason(filter, error, event) }
      }
    }
    if (sets.length > 0 || drops.length > 0) {
      // Every set: expression sees the event as it came (they do not see each other's results), and the event
      // is changed only once all of them have succeeded: a failed one dead-letters it as the source gave it.
      const values = new Array<unknown>(sets.length)
      for (let i = 0; i < sets.length; i++) {
        const { path, expression } = sets[i]!
        try {
          values[i] = evaluate(expression, event, path.type)
        } catch (error) {
          return { _tag: "Failed", reason: runtimeReason(expression, error, event) }
        }
      }
      const target = event as unknown as Record<string, unknown>
      for (let i = 0; i < sets.length; i++) assign(target, sets[i]!.path, values[i])
      for (const path of drops) remove(target, path)
      current = event
    }
    return mapOnly(current)
  }

  const expressions: Array<CompiledExpression> = [
    ...(filter === undefined ? [] : [filter]),
    ...sets.map((s) => s.expression),
    ...maps.map((m) => m.expression)
  ].map(({ at, source, type }) => ({ at, source, type }))
  const transform: EventTransform = { apply, mapOnly, expressions }
  return Either.right(transform)
}

/** The CEL compiler of pipeline files' `filter:`, `transform:` and `sink.map`. */
export const celCompiler: TransformCompiler = { compile }
