import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as AST from "effect/SchemaAST"
import * as Timestamp from "./Timestamp.js"

/**
 * A refused value, worded twice: `message` quotes the value, `hidden` does not. A pipeline file prints
 * `hidden` when the value came from the environment or sits under a secret-looking key, so a setting's own
 * checks can name the value and its fix without ever leaking a secret.
 */
export class ValueIssue extends ParseResult.Type {
  constructor(
    ast: AST.AST,
    actual: unknown,
    message: string,
    readonly hidden: string
  ) {
    super(ast, actual, message)
  }
}

/** A value as messages quote it: short, on one line, never a whole block. */
export const showValue = (value: unknown): string => {
  if (value === null || value === undefined) return "an empty value"
  if (Array.isArray(value)) return "a list"
  if (typeof value === "object") return "a block of keys"
  const text = typeof value === "string" ? JSON.stringify(value) : String(value)
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}

const units = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const
type Unit = keyof typeof units

// Units as people spell them out, so that a refusal can say how to write them.
const spelled: Readonly<Record<string, Unit | "d">> = {
  msec: "ms", msecs: "ms", millis: "ms", millisecond: "ms", milliseconds: "ms",
  sec: "s", secs: "s", second: "s", seconds: "s",
  min: "m", mins: "m", minute: "m", minutes: "m",
  hr: "h", hrs: "h", hour: "h", hours: "h",
  d: "d", day: "d", days: "d"
}

/**
 * The longest duration a setting may hold. Effect's timers treat anything past 2^31-1 ms (24.8 days) as
 * "never", so a longer poll interval or timeout would silently wait forever.
 */
export const MAX_DURATION = Duration.days(24)

const examples = "e.g. 500ms, 30s, 5m or 1h"
const durationPattern = /^\s*(?:0|\d+(?:\.\d+)?\s*(?:ms|s|m|h))\s*$/

/** A duration as a pipeline file would write it: the largest unit that keeps it whole. */
export const formatDuration = (duration: Duration.Duration): string => {
  const ms = Duration.toMillis(duration)
  if (ms === 0) return "0s"
  for (const unit of ["h", "m", "s"] as const) if (ms % units[unit] === 0) return `${ms / units[unit]}${unit}`
  return `${ms}ms`
}

const refuse = (ast: AST.AST, actual: unknown, shown: string, hidden: string): Either.Either<never, ParseResult.ParseIssue> =>
  ParseResult.fail(new ValueIssue(ast, actual, shown, hidden))

const decodeDuration = (input: unknown, ast: AST.AST): Either.Either<Duration.Duration, ParseResult.ParseIssue> => {
  const shown = showValue(input)
  const amountText = typeof input === "number" ? String(input) : typeof input === "string" ? input.trim() : undefined
  if (amountText === undefined || (typeof input === "number" && !Number.isFinite(input))) {
    return refuse(ast, input, `${shown} is not a duration: write a number with a unit, ${examples}`, `the value is not a duration: write a number with a unit, ${examples}`)
  }
  if (/^-\s*\d/.test(amountText)) {
    return refuse(ast, input, `${shown} is negative: a duration is 0 or more, ${examples}`, `the value is negative: a duration is 0 or more, ${examples}`)
  }
  const match = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$/.exec(amountText)
  if (match === null) {
    return refuse(ast, input, `${shown} is not a duration: write a number with a unit, ${examples}`, `the value is not a duration: write a number with a unit, ${examples}`)
  }
  const amount = Number(match[1])
  const unit = match[2]!
  if (unit === "") {
    if (amount === 0) return ParseResult.succeed(Duration.zero)
    // Bare numbers used to be milliseconds; `lag: 30` meant 30 ms where people meant 30 s. Neither is assumed,
    // but the likelier one comes first: thousands are milliseconds written out, small numbers seconds.
    const asMillis = formatDuration(Duration.millis(amount))
    const fix =
      amount >= 1000
        ? `write ${amount}ms${asMillis === `${amount}ms` ? "" : ` (or ${asMillis})`}, or ${amount}s if seconds were meant`
        : `write ${amount}s (or ${amount * 1000}ms), or ${amount}ms if milliseconds were meant`
    return refuse(ast, input, `${shown} is a number without a unit: ${fix}`, "the value is a number without a unit: write it with one, e.g. 30s or 500ms")
  }
  if (!(unit in units)) {
    const meant = spelled[unit.toLowerCase()] ?? (unit.toLowerCase() in units ? (unit.toLowerCase() as Unit) : undefined)
    const fix = meant === undefined ? `a number with a unit, ${examples}` : meant === "d" ? `${amount * 24}h` : `${amount}${meant}`
    return refuse(ast, input, `${shown} is not a duration: write ${fix} (units: ms, s, m, h)`, "the value is not a duration: write a number with a unit (ms, s, m, h)")
  }
  const duration = Duration.millis(amount * units[unit as Unit])
  if (Duration.greaterThan(duration, MAX_DURATION)) {
    return refuse(ast, input, `${shown} is longer than 24 days (576h), the most a duration may be`, "the value is longer than 24 days (576h), the most a duration may be")
  }
  return ParseResult.succeed(duration)
}

/**
 * A duration in a pipeline file: a number with its unit, `500ms`, `30s`, `5m`, `1h`, or `0`. A bare
 * number other than 0 is refused: it used to mean milliseconds, and `lag: 30` read as 30 ms surprised
 * everyone who wrote it. Keys where zero would spin or never finish add `durationAtLeast`.
 */
export const DurationSetting = Schema.transformOrFail(
  Schema.Unknown.annotations({
    description: "a duration with a unit: 500ms, 30s, 5m, 1h (or 0)",
    jsonSchema: { anyOf: [{ const: 0 }, { type: "string", pattern: durationPattern.source }] }
  }),
  Schema.DurationFromSelf,
  {
    strict: true,
    decode: (input, _, ast) => decodeDuration(input, ast),
    encode: (duration) => ParseResult.succeed(formatDuration(duration))
  }
).annotations({ identifier: "Duration" })

/**
 * Refuses durations shorter than `min`, saying why (`why` completes "10ms is shorter than 100ms: ..."):
 * `DurationSetting.pipe(durationAtLeast(Duration.millis(100), "..."))`.
 */
export const durationAtLeast =
  (min: Duration.Duration, why: string) =>
  <I, R>(self: Schema.Schema<Duration.Duration, I, R>): Schema.filter<Schema.Schema<Duration.Duration, I, R>> =>
    self.pipe(
      Schema.filter(
        (duration, _, ast) =>
          Duration.greaterThanOrEqualTo(duration, min) ||
          new ValueIssue(ast, duration, `${formatDuration(duration)} is shorter than ${formatDuration(min)}: ${why}`, `the value is shorter than ${formatDuration(min)}: ${why}`),
        // Editors check the form; the minimum is the runner's to explain.
        { jsonSchema: {} }
      )
    )

// The integer type sits on the base, not on the filter: a filter's own `type` would replace the whole
// JSON Schema node, descriptions given later included.
const wholeNumber = (min: number, what: string) =>
  Schema.Number.annotations({ jsonSchema: { type: "integer" } }).pipe(
    Schema.filter(
      (n, _, ast) =>
        (Number.isSafeInteger(n) && n >= min) ||
        new ValueIssue(ast, n, `${showValue(n)} is not ${what}`, `the value is not ${what}`),
      { jsonSchema: { minimum: min } }
    )
  )

/** A whole number of at least 1. */
export const PositiveInt = wholeNumber(1, "a whole number of at least 1")

/** A whole number of at least 0. */
export const NonNegativeInt = wholeNumber(0, "a whole number of at least 0")

/**
 * Refuses counts above `max`, saying why (`why` completes "1000000 is more than 100000: ...").
 * `1e12` is a valid YAML number; it must meet a sentence, not a 865 MB page.
 */
export const atMost =
  (max: number, why: string) =>
  <I, R>(self: Schema.Schema<number, I, R>): Schema.filter<Schema.Schema<number, I, R>> =>
    self.pipe(
      Schema.filter(
        (n, _, ast) => n <= max || new ValueIssue(ast, n, `${showValue(n)} is more than ${max}: ${why}`, `the value is more than ${max}: ${why}`),
        { jsonSchema: { maximum: max } }
      )
    )

/**
 * A date-time in a pipeline file (`startAt`, `endAt`, `start`): people write ISO 8601 with or without an
 * offset, or ClickHouse's `2024-01-01 00:00:00`; it is kept in core's canonical UTC form.
 */
export const DateTimeSetting = Schema.transformOrFail(
  Schema.Unknown.annotations({
    description: "UTC date-time, e.g. 2024-01-01T00:00:00Z or 2024-01-01 00:00:00.000",
    jsonSchema: { type: "string" }
  }),
  Timestamp.Timestamp,
  {
    strict: true,
    decode: (input, _, ast) => {
      const parsed = typeof input === "string" ? Timestamp.parse(input) : undefined
      return parsed === undefined
        ? refuse(
            ast,
            input,
            `${showValue(input)} is not a date-time: write a UTC date-time such as 2024-01-01T00:00:00Z`,
            "the value is not a date-time: write a UTC date-time such as 2024-01-01T00:00:00Z"
          )
        : ParseResult.succeed(parsed)
    },
    encode: (timestamp) => ParseResult.succeed(timestamp)
  }
).annotations({ identifier: "DateTime" })

const byteUnits: Readonly<Record<string, number>> = { b: 1, kb: 1_000, mb: 1_000_000, gb: 1_000_000_000, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 }
const bytesPattern = /^\s*\d+(?:\.\d+)?\s*(?:[kKmMgG]i?[bB]|[bB])\s*$/

/**
 * A size in bytes in a pipeline file: a whole number of bytes, or a number with a unit (`512KiB`, `16MB`,
 * `1GiB`; KB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024). Decoded to bytes.
 */
export const ByteSizeSetting = Schema.transformOrFail(
  Schema.Unknown.annotations({
    description: "a size: bytes, or a number with a unit: 512KiB, 16MB, 1GiB",
    jsonSchema: { anyOf: [{ type: "integer", minimum: 1 }, { type: "string", pattern: bytesPattern.source }] }
  }),
  Schema.Number,
  {
    strict: true,
    decode: (input, _, ast) => {
      const shown = showValue(input)
      const hint = "write bytes or a number with a unit, e.g. 512KiB, 16MB or 1GiB"
      if (typeof input === "number") {
        return Number.isSafeInteger(input) && input >= 1
          ? ParseResult.succeed(input)
          : refuse(ast, input, `${shown} is not a size: ${hint}`, `the value is not a size: ${hint}`)
      }
      const match = typeof input === "string" ? /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(input) : null
      const factor = match === null ? undefined : match[2] === "" ? 1 : byteUnits[match[2]!.toLowerCase()]
      if (match === null || factor === undefined) return refuse(ast, input, `${shown} is not a size: ${hint}`, `the value is not a size: ${hint}`)
      const bytes = Math.floor(Number(match[1]) * factor)
      return bytes >= 1 && Number.isSafeInteger(bytes)
        ? ParseResult.succeed(bytes)
        : refuse(ast, input, `${shown} is not a size: ${hint}`, `the value is not a size: ${hint}`)
    },
    encode: (bytes) => ParseResult.succeed(bytes)
  }
).annotations({ identifier: "ByteSize" })
