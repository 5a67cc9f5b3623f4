import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { MAX_RATE, MIN_RATE } from "./RateTimeline.js"

const perUnit: Record<string, number> = { s: 1, m: 60, h: 3600 }
const rateText = /^\s*(\d+(?:\.\d+)?)\s*\/\s*(s|m|h)\s*$/

/**
 * A rate in a pipeline file: events per second as a number (`200`), or text with its unit (`200/s`,
 * `30/m`, `100/h`), decoded to events per second.
 */
export const RateSetting = Schema.transformOrFail(
  Schema.Union(Schema.Positive, Schema.String.annotations({ jsonSchema: { type: "string", pattern: rateText.source } })).annotations({
    description: "events per second, or a number with a unit: 200/s, 30/m, 100/h"
  }),
  Schema.Number.pipe(Schema.greaterThanOrEqualTo(MIN_RATE), Schema.lessThanOrEqualTo(MAX_RATE)).annotations({
    message: () => `Expected a rate between 1/h and ${MAX_RATE}/s`
  }),
  {
    strict: true,
    decode: (input, _, ast) => {
      if (typeof input === "number") return ParseResult.succeed(input)
      const match = rateText.exec(input)
      if (match === null) {
        return ParseResult.fail(new ParseResult.Type(ast, input, `Expected a rate such as 200/s, 30/m or 100/h, actual ${JSON.stringify(input)}`))
      }
      return ParseResult.succeed(Number(match[1]) / perUnit[match[2]!]!)
    },
    encode: (rate) => ParseResult.succeed(rate)
  }
).annotations({ identifier: "Rate" })
