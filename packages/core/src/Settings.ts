import * as Duration from "effect/Duration"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Timestamp from "./Timestamp.js"

const units: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }
const durationText = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/

/**
 * A duration in a pipeline file: a number of milliseconds, or text such as `500ms`, `30s`, `5m`, `1h`.
 */
export const DurationSetting = Schema.transformOrFail(
  Schema.Union(Schema.NonNegative, Schema.String.annotations({ jsonSchema: { type: "string", pattern: durationText.source } })).annotations({
    description: "milliseconds, or a number with a unit: 500ms, 30s, 5m, 1h"
  }),
  Schema.DurationFromSelf,
  {
    strict: true,
    decode: (input, _, ast) => {
      if (typeof input === "number") return ParseResult.succeed(Duration.millis(input))
      const match = durationText.exec(input)
      if (match === null) {
        return ParseResult.fail(
          new ParseResult.Type(ast, input, `Expected a duration such as 500ms, 30s, 5m or 1h, actual ${JSON.stringify(input)}`)
        )
      }
      return ParseResult.succeed(Duration.millis(Number(match[1]) * units[match[2]!]!))
    },
    encode: (duration) => ParseResult.succeed(Duration.toMillis(duration))
  }
).annotations({ identifier: "Duration" })

/** A whole number of at least 1. */
export const PositiveInt = Schema.Int.pipe(Schema.greaterThanOrEqualTo(1))

/**
 * A date-time in a pipeline file (`startAt`, `endAt`, `start`): people write ISO 8601 with or without an
 * offset, or ClickHouse's `2024-01-01 00:00:00`; it is kept in core's canonical UTC form.
 */
export const DateTimeSetting = Schema.transformOrFail(
  Schema.String.annotations({ description: "UTC date-time, e.g. 2024-01-01T00:00:00Z or 2024-01-01 00:00:00.000" }),
  Timestamp.Timestamp,
  {
    strict: true,
    decode: (input, _, ast) => {
      const parsed = Timestamp.parse(input)
      return parsed === undefined
        ? ParseResult.fail(
            new ParseResult.Type(ast, input, `Expected a UTC date-time such as 2024-01-01T00:00:00Z, actual ${JSON.stringify(input)}`)
          )
        : ParseResult.succeed(parsed)
    },
    encode: (timestamp) => ParseResult.succeed(timestamp)
  }
).annotations({ identifier: "DateTime" })
