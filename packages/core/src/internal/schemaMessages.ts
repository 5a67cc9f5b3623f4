import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as AST from "effect/SchemaAST"
import { ValueIssue, showValue } from "../Settings.js"

/** One mistake a schema found, in the words a pipeline file prints. */
export interface SchemaIssue {
  readonly tag: "Type" | "Missing" | "Unexpected" | "Forbidden"
  readonly path: ReadonlyArray<PropertyKey>
  /** May quote the value. */
  readonly message: string
  /** Never quotes the value: for values from the environment and under secret-looking keys. */
  readonly hidden: string
  /**
   * Whether the message is a schema's own text, which may quote a whole value (a block with its secrets);
   * the others quote at most a scalar, and show a block as "a block of keys".
   */
  readonly custom: boolean
}

/**
 * The leaves of a parse issue as sentences. Effect's own formatters name schemas by their AST
 * ("Struct (Encoded side)", "{ readonly size: ... }") and list every member of a failed union, including
 * the `undefined` of each optional key; this walk describes what a key wants in a person's words instead,
 * and reports each wrong value once.
 */
export const schemaIssues = (issue: ParseResult.ParseIssue): Array<SchemaIssue> => {
  const out: Array<SchemaIssue> = []
  walk(issue, [], out)
  const seen = new Set<string>()
  return out.filter((one) => {
    const key = `${one.path.map(String).join("\u0000")}\u0001${one.message}`
    return seen.has(key) ? false : (seen.add(key), true)
  })
}

const withPath = (path: ReadonlyArray<PropertyKey>, more: PropertyKey | ReadonlyArray<PropertyKey>) =>
  [...path, ...(Array.isArray(more) ? (more as ReadonlyArray<PropertyKey>) : [more as PropertyKey])]

const walk = (issue: ParseResult.ParseIssue, path: ReadonlyArray<PropertyKey>, out: Array<SchemaIssue>): void => {
  switch (issue._tag) {
    case "Pointer":
      return walk(issue.issue, withPath(path, issue.path), out)
    case "Composite": {
      const inner = Array.isArray(issue.issues) ? (issue.issues as ReadonlyArray<ParseResult.ParseIssue>) : [issue.issues as ParseResult.ParseIssue]
      if (AST.isUnion(issue.ast)) return union(issue.actual, inner, path, out)
      for (const one of inner) walk(one, path, out)
      return
    }
    case "Refinement":
    case "Transformation":
      return walk(issue.issue, path, out)
    case "Type":
      return void out.push({ tag: "Type", path, ...typeMessage(issue) })
    case "Missing": {
      // A NonEmptyArray reports an empty list as a missing first item.
      const last = path[path.length - 1]
      if (last === 0) {
        const message = "is an empty list: give at least one item"
        return void out.push({ tag: "Missing", path: path.slice(0, -1), message, hidden: message, custom: false })
      }
      return void out.push({ tag: "Missing", path, message: "is required but missing", hidden: "is required but missing", custom: false })
    }
    case "Unexpected": {
      const expected = (issue.message ?? "").replace(/^is unexpected, expected:\s*/, "")
      const meant = closest(String(path[path.length - 1] ?? ""), [...expected.matchAll(/"([^"]+)"/g)].map((match) => match[1]!))
      const message = `unknown key${meant === undefined ? "" : ` (did you mean "${meant}"?)`}; ${expected === "" ? "remove it" : `expected one of: ${expected}`}`
      return void out.push({ tag: "Unexpected", path, message, hidden: message, custom: false })
    }
    case "Forbidden": {
      const message = "cannot be checked while the file loads"
      return void out.push({ tag: "Forbidden", path, message, hidden: message, custom: false })
    }
  }
}

/** Edits (insert, delete, replace one character) from `a` to `b`, given up past `limit`. */
const distance = (a: string, b: string, limit: number): number => {
  if (Math.abs(a.length - b.length) > limit) return limit + 1
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[b.length]!
}

/** The expected key a mistyped one most likely meant: the same but for case, or two edits away at most. */
const closest = (given: string, keys: ReadonlyArray<string>): string | undefined => {
  const sameCase = keys.find((key) => key.toLowerCase() === given.toLowerCase())
  if (sameCase !== undefined) return sameCase
  const limit = given.length <= 4 ? 1 : 2
  let best: { key: string; edits: number } | undefined
  for (const key of keys) {
    const edits = distance(given.toLowerCase(), key.toLowerCase(), limit)
    if (edits <= limit && (best === undefined || edits < best.edits)) best = { key, edits }
  }
  return best?.key
}

/** A failed union: the member failures that say something, with a list of literals merged into one. */
const union = (actual: unknown, issues: ReadonlyArray<ParseResult.ParseIssue>, path: ReadonlyArray<PropertyKey>, out: Array<SchemaIssue>) => {
  // Each optional key is `T | undefined`; that its value is not undefined says nothing.
  const useful = issues.filter((one) => !(one._tag === "Type" && AST.isUndefinedKeyword(one.ast)))
  const members = useful.length > 0 ? useful : issues
  const literals = members.flatMap((one) => (one._tag === "Type" && AST.isLiteral(one.ast) && one.message === undefined ? [one.ast.literal] : []))
  if (literals.length === members.length) {
    const expected = `one of ${literals.map((literal) => JSON.stringify(literal)).join(", ")}`
    return void out.push({ tag: "Type", path, message: `must be ${expected}, not ${showValue(actual)}`, hidden: `must be ${expected} (the value is not shown)`, custom: false })
  }
  for (const one of members) walk(one, path, out)
}

/** A `message` annotation that is plain text (an effectful one is left to Effect's own formatters). */
const annotatedMessage = (issue: ParseResult.Type): string | undefined => {
  const annotation = AST.getMessageAnnotation(issue.ast)
  if (Option.isNone(annotation)) return undefined
  const result = annotation.value(issue)
  if (typeof result === "string") return result
  if (Effect.isEffect(result)) return undefined
  return typeof result.message === "string" ? result.message : undefined
}

const typeMessage = (issue: ParseResult.Type): { message: string; hidden: string; custom: boolean } => {
  // Core's settings quote values with `showValue`, which never shows a block.
  if (issue instanceof ValueIssue) return { message: issue.message ?? issue.hidden, hidden: issue.hidden, custom: false }
  const custom = annotatedMessage(issue) ?? issue.message
  // Plugins' own messages follow Effect's "Expected ..., actual <value>".
  if (custom !== undefined) return { message: custom, hidden: custom.replace(/,? actual [\s\S]*$/, " (the value is not shown)"), custom: true }
  const expected = describe(issue.ast)
  return { message: `must be ${expected}, not ${showValue(issue.actual)}`, hidden: `must be ${expected} (the value is not shown)`, custom: false }
}

const textAnnotation = (ast: AST.AST): string | undefined =>
  Option.getOrUndefined(Option.orElse(AST.getDescriptionAnnotation(ast), () => AST.getTitleAnnotation(ast)))

const keysOf = (ast: AST.TypeLiteral): string => {
  const names = ast.propertySignatures.map((signature) => String(signature.name))
  if (names.length === 0) return "a block of keys"
  return `a block of keys (${names.length > 8 ? `${names.slice(0, 8).join(", ")}, ...` : names.join(", ")})`
}

/** The `type` a plugin's config block declares, if the AST is one. */
const pluginType = (ast: AST.AST): string | undefined => {
  const literal = AST.isTransformation(ast) ? ast.from : ast
  if (!AST.isTypeLiteral(literal)) return undefined
  const type = literal.propertySignatures.find((signature) => signature.name === "type")?.type
  return type !== undefined && AST.isLiteral(type) && typeof type.literal === "string" ? type.literal : undefined
}

/** What a schema wants, as a person would say it. */
const describe = (ast: AST.AST): string => {
  switch (ast._tag) {
    case "StringKeyword":
    case "TemplateLiteral":
      return "text"
    case "NumberKeyword":
      return "a number"
    case "BooleanKeyword":
      return "true or false"
    case "Literal":
      return JSON.stringify(ast.literal)
    case "UndefinedKeyword":
    case "VoidKeyword":
      return "left out"
    case "TypeLiteral":
      return keysOf(ast)
    case "TupleType":
      return ast.elements.length > 0 ? "a list of at least one item" : "a list"
    case "Enums":
      return `one of ${ast.enums.map(([, value]) => JSON.stringify(value)).join(", ")}`
    case "Union": {
      const members = ast.types.filter((member) => !AST.isUndefinedKeyword(member))
      if (members.length > 0 && members.every(AST.isLiteral)) return `one of ${members.map((member) => JSON.stringify(member.literal)).join(", ")}`
      const types = members.map(pluginType)
      if (types.length > 0 && types.every((type) => type !== undefined)) return `a block of keys with a type (one of ${types.map((type) => JSON.stringify(type)).join(", ")})`
      return [...new Set(members.map(describe))].join(" or ")
    }
    case "Transformation":
      return describe(ast.from)
    case "Refinement":
      return textAnnotation(ast) ?? describe(ast.from)
    case "Suspend":
      return describe(ast.f())
    case "Declaration":
      return textAnnotation(ast) ?? "a different value"
    default:
      return textAnnotation(ast) ?? "a different value"
  }
}
