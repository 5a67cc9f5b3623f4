import { type Document, Double, Int32, Long } from "bson"
import { Query } from "mingo"
import { bsonTag, comparatorOf, compareBson } from "./bsonOrder.js"

/**
 * The aggregation of the MongoDB wire server: the stages `$match` (mingo, as `find`), `$group` (`_id` an
 * expression; `$sum`, `$min`, `$max`), `$sort`, `$project` (inclusion, exclusion, computed fields), `$skip`
 * and `$limit`, and the expressions field paths, `$$NOW`/`$$ROOT`/`$$CURRENT`/`$$REMOVE`, `$literal`,
 * `$add`, `$subtract`, `$multiply`, `$divide`, `$floor` and `$toLong`, with MongoDB's numeric types: int
 * arithmetic stays int until it overflows into long, long into double, `$divide` is always double, a Date
 * minus a Date and `$toLong` of a Date are a long of milliseconds. Anything else is refused with MongoDB's
 * error code, so a test never passes on an operator the server only pretends to know.
 *
 * Not mingo's Aggregator: it computes with JS numbers (a `$sum` of Int32 fields is 0, no result type is
 * kept) and its `$$NOW` is the runner's clock.
 */

/** A command's failure, replied as `{ok: 0, code, codeName, errmsg}`. */
export class CommandError extends Error {
  constructor(
    readonly code: number,
    readonly codeName: string,
    message: string
  ) {
    super(message)
  }
}

const fail = (code: number, message: string, codeName = `Location${code}`): never => {
  throw new CommandError(code, codeName, message)
}

const unsupported = (what: string): never => fail(2, `the wire test server does not support ${what}`, "BadValue")

// ---------------------------------------------------------------------------------------------------------------
// Values

/** A BSON number with its type. */
type Num = { readonly t: "int"; readonly v: number } | { readonly t: "long"; readonly v: bigint } | { readonly t: "double"; readonly v: number }

const INT32_MIN = -(2 ** 31)
const INT32_MAX = 2 ** 31 - 1
const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

/** A plain (sub)document: not an array, Date, bson value, binary or regex. */
export const isDoc = (value: unknown): value is Document =>
  value !== null &&
  typeof value === "object" &&
  !Array.isArray(value) &&
  !(value instanceof Date) &&
  !(value instanceof Uint8Array) &&
  !(value instanceof RegExp) &&
  bsonTag(value) === undefined

/**
 * The number a value is, typed as MongoDB would have stored it: a JS number as bson serializes it (an integer
 * in int32 range is an int, any other a double), a bigint as a long.
 */
const numOf = (value: unknown): Num | undefined => {
  if (typeof value === "number") {
    return Number.isSafeInteger(value) && value >= INT32_MIN && value <= INT32_MAX && !Object.is(value, -0) ? { t: "int", v: value } : { t: "double", v: value }
  }
  if (typeof value === "bigint") return { t: "long", v: BigInt.asIntN(64, value) }
  switch (bsonTag(value)) {
    case "Int32":
      return { t: "int", v: (value as { value: number }).value }
    case "Double":
      return { t: "double", v: (value as { value: number }).value }
    case "Long": {
      const long = value as { low: number; high: number }
      return { t: "long", v: (BigInt(long.high) << 32n) | BigInt(long.low >>> 0) }
    }
    case "Decimal128":
      return unsupported("Decimal128 arithmetic")
    default:
      return undefined
  }
}

const toDouble = (n: Num): number => (n.t === "long" ? Number(n.v) : n.v)
const toBig = (n: Num): bigint => (n.t === "long" ? n.v : BigInt(n.v))

/** A typed number as the bson value that serializes to that type. */
const toBson = (n: Num): Int32 | Long | Double => (n.t === "int" ? new Int32(n.v) : n.t === "long" ? Long.fromBigInt(n.v) : new Double(n.v))

/** `+`, `-`, `*` as MongoDB: int stays int unless it overflows (then long), long stays long unless it overflows (then double). */
const arith = (a: Num, b: Num, op: "+" | "-" | "*"): Num => {
  if (a.t === "double" || b.t === "double") {
    const x = toDouble(a)
    const y = toDouble(b)
    return { t: "double", v: op === "+" ? x + y : op === "-" ? x - y : x * y }
  }
  const x = toBig(a)
  const y = toBig(b)
  const r = op === "+" ? x + y : op === "-" ? x - y : x * y
  if (a.t === "int" && b.t === "int" && r >= BigInt(INT32_MIN) && r <= BigInt(INT32_MAX)) return { t: "int", v: Number(r) }
  if (r >= INT64_MIN && r <= INT64_MAX) return { t: "long", v: r }
  return { t: "double", v: Number(r) }
}

/** A number of milliseconds to add to a Date (a double rounds half away from zero, as llround). */
const millisOf = (n: Num): number => (n.t === "double" ? Math.sign(n.v) * Math.round(Math.abs(n.v)) : Number(n.v))

/** MongoDB's name of a value's type, for error messages. */
const typeName = (value: unknown): string => {
  if (value === undefined) return "missing"
  if (value === null) return "null"
  if (typeof value === "string") return "string"
  if (typeof value === "boolean") return "bool"
  if (value instanceof Date) return "date"
  if (Array.isArray(value)) return "array"
  if (typeof value === "number" || typeof value === "bigint") return { int: "int", long: "long", double: "double" }[numOf(value)!.t]
  switch (bsonTag(value)) {
    case "Int32":
      return "int"
    case "Long":
      return "long"
    case "Double":
      return "double"
    case "Decimal128":
      return "decimal"
    case "ObjectId":
      return "objectId"
    case "Binary":
      return "binData"
    case "Timestamp":
      return "timestamp"
    case undefined:
      return value instanceof Uint8Array ? "binData" : value instanceof RegExp ? "regex" : "object"
    default:
      return String(bsonTag(value))
  }
}

const nullish = (value: unknown): boolean => value === undefined || value === null

/** The value of a document (or array of documents) at a path, as aggregation field paths read it. */
const valueAt = (value: unknown, parts: ReadonlyArray<string>, i: number): unknown => {
  if (i === parts.length) return value
  if (Array.isArray(value)) {
    const out: Array<unknown> = []
    for (const element of value) {
      if (!isDoc(element) && !Array.isArray(element)) continue
      const found = valueAt(element, parts, i)
      if (found !== undefined) out.push(found)
    }
    return out
  }
  if (!isDoc(value)) return undefined
  return valueAt(value[parts[i]!], parts, i + 1)
}

// ---------------------------------------------------------------------------------------------------------------
// Expressions

interface Scope {
  readonly root: unknown
  readonly current: unknown
  /** `$$NOW`: the server's clock, one instant for the whole command. */
  readonly now: Date
}

const variable = (text: string, scope: Scope): unknown => {
  const [name = "", ...path] = text.slice(2).split(".")
  let base: unknown
  switch (name) {
    case "NOW":
      base = scope.now
      break
    case "ROOT":
      base = scope.root
      break
    case "CURRENT":
      base = scope.current
      break
    case "REMOVE":
      return undefined
    default:
      return fail(17276, `Use of undefined variable: ${name}`)
  }
  return valueAt(base, path, 0)
}

const fieldPath = (text: string, scope: Scope): unknown => {
  if (text === "$") return fail(16872, "'$' by itself is not a valid FieldPath")
  return valueAt(scope.current, text.slice(1).split("."), 0)
}

const operands = (name: string, operand: unknown, scope: Scope, arity?: number): Array<unknown> => {
  const list = Array.isArray(operand) ? operand : [operand]
  if (arity !== undefined && list.length !== arity) fail(16020, `Expression ${name} takes exactly ${arity} arguments. ${list.length} were passed in.`)
  return list.map((expression) => evaluate(expression, scope))
}

const operators: Record<string, (operand: unknown, scope: Scope) => unknown> = {
  $literal: (operand) => operand,
  $add: (operand, scope) => {
    const values = operands("$add", operand, scope)
    if (values.some(nullish)) return null
    let total: Num = { t: "int", v: 0 }
    let date: Date | undefined
    for (const value of values) {
      if (value instanceof Date) {
        if (date !== undefined) fail(16612, "only one date allowed in an $add expression")
        date = value
        continue
      }
      const n = numOf(value)
      if (n === undefined) return fail(16554, `$add only supports numeric or date types, not ${typeName(value)}`)
      total = arith(total, n, "+")
    }
    return date === undefined ? toBson(total) : new Date(date.getTime() + millisOf(total))
  },
  $subtract: (operand, scope) => {
    const [a, b] = operands("$subtract", operand, scope, 2)
    if (nullish(a) || nullish(b)) return null
    if (a instanceof Date) {
      if (b instanceof Date) return Long.fromNumber(a.getTime() - b.getTime())
      const nb = numOf(b)
      if (nb === undefined) return fail(16613, `cant $subtract a ${typeName(b)} from a Date`)
      return new Date(a.getTime() - millisOf(nb))
    }
    const na = numOf(a)
    const nb = numOf(b)
    if (na !== undefined && nb !== undefined) return toBson(arith(na, nb, "-"))
    return fail(16556, `cant $subtract a ${typeName(b)} from a ${typeName(a)}`)
  },
  $multiply: (operand, scope) => {
    const values = operands("$multiply", operand, scope)
    if (values.some(nullish)) return null
    let product: Num = { t: "int", v: 1 }
    for (const value of values) {
      const n = numOf(value)
      if (n === undefined) return fail(16555, `$multiply only supports numeric types, not ${typeName(value)}`)
      product = arith(product, n, "*")
    }
    return toBson(product)
  },
  $divide: (operand, scope) => {
    const [a, b] = operands("$divide", operand, scope, 2)
    if (nullish(a) || nullish(b)) return null
    const na = numOf(a)
    const nb = numOf(b)
    if (na === undefined || nb === undefined) return fail(16609, `$divide only supports numeric types, not ${typeName(a)} and ${typeName(b)}`)
    if (toDouble(nb) === 0) return fail(2, "can't $divide by zero", "BadValue")
    return new Double(toDouble(na) / toDouble(nb))
  },
  $floor: (operand, scope) => {
    const [a] = operands("$floor", operand, scope, 1)
    if (nullish(a)) return null
    const n = numOf(a)
    if (n === undefined) return fail(28765, `$floor only supports numeric types, not ${typeName(a)}`)
    return n.t === "double" ? new Double(Math.floor(n.v)) : toBson(n)
  },
  $toLong: (operand, scope) => {
    const [a] = operands("$toLong", operand, scope, 1)
    if (nullish(a)) return null
    const conversion = (message: string): never => fail(241, `${message} in $convert with no onError value`, "ConversionFailure")
    if (a instanceof Date) return Long.fromNumber(a.getTime())
    if (typeof a === "boolean") return Long.fromNumber(a ? 1 : 0)
    if (typeof a === "string") {
      if (!/^-?[0-9]+$/.test(a)) return conversion(`Failed to parse number '${a}'`)
      const value = BigInt(a)
      if (value < INT64_MIN || value > INT64_MAX) return conversion(`Failed to parse number '${a}': Overflow`)
      return Long.fromBigInt(value)
    }
    const n = numOf(a)
    if (n === undefined) return conversion(`Unsupported conversion from ${typeName(a)} to long`)
    if (n.t !== "double") return Long.fromBigInt(toBig(n))
    if (Number.isNaN(n.v)) return conversion("Attempt to convert NaN value to integer type")
    const truncated = Math.trunc(n.v)
    if (!Number.isFinite(truncated) || truncated < -(2 ** 63) || truncated >= 2 ** 63) return conversion(`Conversion would overflow target type`)
    return Long.fromBigInt(BigInt(truncated))
  }
}

/** Evaluates an aggregation expression (numbers in it typed, as bson's `promoteValues: false` reads them). */
export const evaluate = (expression: unknown, scope: Scope): unknown => {
  if (typeof expression === "string") {
    if (expression.startsWith("$$")) return variable(expression, scope)
    if (expression.startsWith("$")) return fieldPath(expression, scope)
    return expression
  }
  if (Array.isArray(expression)) return expression.map((element) => evaluate(element, scope) ?? null)
  if (!isDoc(expression)) return expression
  const keys = Object.keys(expression)
  const first = keys[0]
  if (first !== undefined && first.startsWith("$")) {
    if (keys.length !== 1) {
      return fail(15983, `an expression specification must contain exactly one field, the name of the expression. Found ${keys.length} fields`)
    }
    const operator = operators[first]
    if (operator === undefined) {
      return fail(168, `Unrecognized expression '${first}' (the wire test server knows only ${Object.keys(operators).join(", ")})`, "InvalidPipelineOperator")
    }
    return operator(expression[first], scope)
  }
  const out: Document = {}
  for (const key of keys) {
    if (key.startsWith("$")) fail(16410, "FieldPath field names may not start with '$'.")
    if (key.includes(".")) fail(16412, "FieldPath field names may not contain '.'.")
    const value = evaluate(expression[key], scope)
    if (value !== undefined) out[key] = value
  }
  return out
}

// ---------------------------------------------------------------------------------------------------------------
// Filters

/** A document with its bson numbers as JS numbers, for mingo (which compares only those); the same object when it has none. */
export const promoted = (value: unknown): unknown => {
  if (Array.isArray(value)) {
    let changed = false
    const out = value.map((element) => {
      const p = promoted(element)
      if (p !== element) changed = true
      return p
    })
    return changed ? out : value
  }
  const tag = bsonTag(value)
  if (tag === "Int32" || tag === "Double" || tag === "Long") return toDouble(numOf(value)!)
  if (!isDoc(value)) return value
  let out: Document | undefined
  for (const key of Object.keys(value)) {
    const element = value[key]
    const p = promoted(element)
    if (p !== element) {
      out ??= { ...value }
      out[key] = p
    }
  }
  return out ?? value
}

/** A filter whose `$expr`s read `$$NOW` as the server's clock (mingo's `$$NOW` is the runner's). */
export const withServerNow = (filter: Document, now: Date): Document => {
  const inExpr = (value: unknown): unknown => {
    if (value === "$$NOW") return now
    if (Array.isArray(value)) return value.map(inExpr)
    if (!isDoc(value)) return value
    const out: Document = {}
    for (const key of Object.keys(value)) out[key] = key === "$literal" ? value[key] : inExpr(value[key])
    return out
  }
  const walk = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(walk)
    if (!isDoc(value)) return value
    const out: Document = {}
    for (const key of Object.keys(value)) out[key] = key === "$expr" ? inExpr(value[key]) : walk(value[key])
    return out
  }
  return walk(filter) as Document
}

/** Whether a filter uses `$$NOW` anywhere (most do not: they are then used as sent). */
export const mentionsNow = (filter: unknown): boolean =>
  filter === "$$NOW" || (Array.isArray(filter) ? filter.some(mentionsNow) : isDoc(filter) && Object.values(filter).some(mentionsNow))

// ---------------------------------------------------------------------------------------------------------------
// Stages

/** 1 / true include, 0 / false exclude; anything else is an expression. */
const flagOf = (value: unknown): boolean | undefined => {
  if (typeof value === "boolean") return value
  const n = numOf(value)
  return n === undefined ? undefined : toDouble(n) !== 0
}

type PathTree = Map<string, true | PathTree>

const addPath = (tree: PathTree, path: string): void => {
  const parts = path.split(".")
  let node = tree
  parts.forEach((part, i) => {
    if (part === "") fail(15998, "FieldPath field names may not be empty strings.")
    const existing = node.get(part)
    if (i === parts.length - 1) {
      if (existing !== undefined) fail(31250, `Invalid $project :: caused by :: Path collision at ${path}`)
      node.set(part, true)
    } else {
      if (existing === true) return fail(31250, `Invalid $project :: caused by :: Path collision at ${path}`)
      let next = existing
      if (next === undefined) {
        next = new Map()
        node.set(part, next)
      }
      node = next
    }
  })
}

const includeFrom = (value: Document, tree: PathTree): Document => {
  const out: Document = {}
  for (const key of Object.keys(value)) {
    const node = tree.get(key)
    if (node === undefined) continue
    const element = value[key]
    if (node === true) out[key] = element
    else if (isDoc(element)) out[key] = includeFrom(element, node)
    else if (Array.isArray(element)) out[key] = element.filter(isDoc).map((inner) => includeFrom(inner, node))
  }
  return out
}

const excludeFrom = (value: Document, tree: PathTree): Document => {
  const out: Document = {}
  for (const key of Object.keys(value)) {
    const node = tree.get(key)
    const element = value[key]
    if (node === true) continue
    if (node === undefined) out[key] = element
    else if (isDoc(element)) out[key] = excludeFrom(element, node)
    else if (Array.isArray(element)) out[key] = element.map((inner) => (isDoc(inner) ? excludeFrom(inner, node) : inner))
    else out[key] = element
  }
  return out
}

const setPath = (target: Document, parts: ReadonlyArray<string>, value: unknown): void => {
  let node = target
  for (let i = 0; i < parts.length - 1; i++) {
    const part = parts[i]!
    const next = node[part]
    if (Array.isArray(next)) unsupported("a computed field inside an array")
    if (!isDoc(next)) node[part] = {}
    node = node[part] as Document
  }
  node[parts[parts.length - 1]!] = value
}

const project = (docs: ReadonlyArray<Document>, spec: unknown, now: Date): Array<Document> => {
  if (!isDoc(spec) || Object.keys(spec).length === 0) {
    return fail(51272, "Invalid $project :: caused by :: projection specification must have at least one field")
  }
  const includes: PathTree = new Map()
  const excludes: PathTree = new Map()
  const computed: Array<readonly [string, unknown]> = []
  let idFlag: boolean | undefined
  let exclusions = 0
  let inclusions = 0
  for (const [path, value] of Object.entries(spec)) {
    if (path.startsWith("$")) fail(16410, "Invalid $project :: caused by :: FieldPath field names may not start with '$'.")
    const flag = flagOf(value)
    if (flag === undefined) {
      if (isDoc(value) && Object.keys(value).length === 0) fail(51270, "Invalid $project :: caused by :: An empty sub-projection is not a valid value.")
      computed.push([path, value])
      inclusions++
    } else if (path === "_id") {
      idFlag = flag
    } else if (flag) {
      addPath(includes, path)
      inclusions++
    } else {
      addPath(excludes, path)
      exclusions++
    }
  }
  if (exclusions > 0 && inclusions > 0) {
    const [field] = Object.entries(spec).find(([path, value]) => path !== "_id" && flagOf(value) === false)!
    fail(31254, `Invalid $project :: caused by :: Cannot do exclusion on field ${field} in inclusion projection`)
  }
  if (inclusions === 0 && idFlag !== true) {
    // An exclusion projection (possibly only of _id).
    if (idFlag === false) excludes.set("_id", true)
    return docs.map((doc) => excludeFrom(doc, excludes))
  }
  const excludeId = idFlag === false
  const computedId = computed.find(([path]) => path === "_id")
  return docs.map((doc) => {
    const scope: Scope = { root: doc, current: doc, now }
    const out: Document = {}
    if (computedId !== undefined) {
      const value = evaluate(computedId[1], scope)
      if (value !== undefined) out["_id"] = value
    } else if (!excludeId && doc["_id"] !== undefined) {
      out["_id"] = doc["_id"]
    }
    Object.assign(out, includeFrom(doc, includes))
    for (const [path, expression] of computed) {
      if (path === "_id") continue
      const value = evaluate(expression, scope)
      if (value !== undefined) setPath(out, path.split("."), value)
    }
    return out
  })
}

/** The key `$group` puts equal values under: numbers by value whatever their type, documents by field order. */
const groupKey = (value: unknown): string => {
  if (value === undefined || value === null) return "null"
  if (typeof value === "string") return `s${JSON.stringify(value)}`
  if (typeof value === "boolean") return `b${String(value)}`
  if (value instanceof Date) return `d${value.getTime()}`
  if (Array.isArray(value)) return `a[${value.map(groupKey).join(",")}]`
  if (isDoc(value)) return `o{${Object.keys(value).map((key) => `${JSON.stringify(key)}:${groupKey(value[key])}`).join(",")}}`
  const n = numOf(value)
  if (n !== undefined) {
    if (n.t !== "double") return `n${String(n.v)}`
    return Number.isInteger(n.v) && Math.abs(n.v) < 2 ** 63 ? `n${BigInt(n.v).toString()}` : `n${Object.is(n.v, -0) ? "0" : String(n.v)}`
  }
  return `${String(bsonTag(value) ?? typeof value)}:${String(value)}`
}

const ACCUMULATORS = new Set(["$sum", "$min", "$max"])

const group = (docs: ReadonlyArray<Document>, spec: unknown, now: Date): Array<Document> => {
  if (!isDoc(spec)) return fail(15947, "a group's fields must be specified in an object")
  if (!("_id" in spec)) return fail(15955, "a group specification must include an _id")
  const accumulators = Object.entries(spec)
    .filter(([field]) => field !== "_id")
    .map(([field, accumulator]) => {
      if (field.includes(".")) fail(40235, `The field name '${field}' cannot contain '.'`)
      if (!isDoc(accumulator) || Object.keys(accumulator).length !== 1) return fail(40234, `The field '${field}' must be an accumulator object`)
      const [op, argument] = Object.entries(accumulator)[0]!
      if (!ACCUMULATORS.has(op)) return fail(15952, `unknown group operator '${op}' (the wire test server knows only ${[...ACCUMULATORS].join(", ")})`)
      return { field, op, argument }
    })
  const groups = new Map<string, { readonly id: unknown; readonly states: Array<unknown> }>()
  for (const doc of docs) {
    const scope: Scope = { root: doc, current: doc, now }
    const id = evaluate(spec["_id"], scope)
    const key = groupKey(id)
    let entry = groups.get(key)
    if (entry === undefined) {
      entry = { id: id ?? null, states: accumulators.map(({ op }) => (op === "$sum" ? ({ t: "int", v: 0 } satisfies Num) : undefined)) }
      groups.set(key, entry)
    }
    accumulators.forEach(({ op, argument }, i) => {
      const value = evaluate(argument, scope)
      const state = entry.states[i]
      if (op === "$sum") {
        // Values that are not numbers (strings, dates, arrays, missing) are ignored, as MongoDB does.
        const n = Array.isArray(value) ? undefined : numOf(value)
        if (n !== undefined) entry.states[i] = arith(state as Num, n, "+")
      } else if (!nullish(value)) {
        const c = state === undefined ? 0 : compareBson(value, state)
        if (state === undefined || (op === "$min" ? c < 0 : c > 0)) entry.states[i] = value
      }
    })
  }
  return [...groups.values()].map(({ id, states }) => {
    const out: Document = { _id: id }
    accumulators.forEach(({ field, op }, i) => {
      const state = states[i]
      out[field] = op === "$sum" ? toBson(state as Num) : (state ?? null)
    })
    return out
  })
}

const sortStage = (docs: ReadonlyArray<Document>, spec: unknown): Array<Document> => {
  if (!isDoc(spec) || Object.keys(spec).length === 0) return fail(15976, "$sort stage must have at least one sort key")
  const directions: Record<string, number> = {}
  for (const [path, direction] of Object.entries(spec)) {
    if (isDoc(direction) && "$meta" in direction) unsupported("$meta sort keys")
    const n = numOf(direction)
    const d = n === undefined ? 0 : toDouble(n)
    if (d !== 1 && d !== -1) fail(15975, "$sort key ordering must be 1 (for ascending) or -1 (for descending)")
    directions[path] = d
  }
  return [...docs].sort(comparatorOf(directions))
}

const countOf = (stage: "$limit" | "$skip", value: unknown): number => {
  const n = numOf(value)
  const v = n === undefined ? Number.NaN : toDouble(n)
  if (!Number.isInteger(v)) {
    return stage === "$limit" ? fail(15957, "the limit must be specified as a number") : fail(15972, "Argument to $skip must be a number.")
  }
  if (stage === "$limit" && v <= 0) return fail(15958, "the limit must be positive")
  if (stage === "$skip" && v < 0) return fail(15956, "Argument to $skip cannot be negative")
  return v
}

/**
 * Runs a pipeline over a collection's documents. `pipeline` is the command as decoded for mingo (numbers as
 * JS numbers), `typed` the same pipeline with its numbers as bson values (for the result types).
 */
export const runPipeline = (docs: ReadonlyArray<Document>, pipeline: ReadonlyArray<unknown>, typed: ReadonlyArray<unknown>, now: Date): Array<Document> => {
  let current: ReadonlyArray<Document> = docs
  pipeline.forEach((stage, i) => {
    if (!isDoc(stage) || Object.keys(stage).length !== 1) fail(40323, "A pipeline stage specification object must contain exactly one field.")
    const name = Object.keys(stage as Document)[0]!
    const spec = (stage as Document)[name]
    const typedSpec = (typed[i] as Document)[name]
    switch (name) {
      case "$match": {
        if (!isDoc(spec)) fail(15959, "the match filter must be an expression in an object")
        const filter = promoted(spec) as Document
        const query = new Query(mentionsNow(filter) ? withServerNow(filter, now) : filter)
        current = current.filter((doc) => query.test(promoted(doc) as Document))
        break
      }
      case "$group":
        current = group(current, typedSpec, now)
        break
      case "$sort":
        current = sortStage(current, typedSpec)
        break
      case "$project":
        current = project(current, typedSpec, now)
        break
      case "$limit":
        current = current.slice(0, countOf("$limit", typedSpec))
        break
      case "$skip":
        current = current.slice(countOf("$skip", typedSpec))
        break
      default:
        fail(40324, `Unrecognized pipeline stage name: '${name}' (the wire test server knows only $match, $group, $sort, $project, $skip, $limit)`)
    }
  })
  return current === docs ? [...docs] : [...current]
}
