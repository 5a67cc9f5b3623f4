import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { DurationSetting, PositiveInt } from "../src/Settings.js"

const decode = Schema.decodeUnknownEither(DurationSetting)
const millis = (input: unknown): number => {
  const result = decode(input)
  if (Either.isLeft(result)) throw new Error(ParseResult.TreeFormatter.formatErrorSync(result.left))
  return Duration.toMillis(result.right)
}
const failure = (input: unknown): string => {
  const result = decode(input)
  if (Either.isRight(result)) throw new Error(`expected ${JSON.stringify(input)} to be refused`)
  return ParseResult.TreeFormatter.formatErrorSync(result.left)
}

describe("DurationSetting", () => {
  it("reads a number as milliseconds", () => {
    expect(millis(1500)).toBe(1500)
    expect(millis(0)).toBe(0)
  })

  it("reads text with a unit", () => {
    expect(millis("500ms")).toBe(500)
    expect(millis("30s")).toBe(30_000)
    expect(millis("5m")).toBe(300_000)
    expect(millis("1h")).toBe(3_600_000)
    expect(millis("1.5s")).toBe(1500)
    expect(millis(" 30s ")).toBe(30_000)
  })

  it("refuses text that is not a duration, with a message that shows the expected form and the value", () => {
    for (const input of ["soon", "30 seconds", "-5s", "s", "1d", ""]) {
      const message = failure(input)
      expect(message, input).toMatch(/duration/i)
      expect(message, input).toMatch(/30s|500ms/)
      expect(message, input).toContain(JSON.stringify(input))
    }
  })

  it("refuses negative numbers and values of other types", () => {
    failure(-1)
    failure(true)
    failure(null)
    failure({ seconds: 5 })
  })

  it("encodes back to milliseconds", () => {
    expect(Schema.encodeSync(DurationSetting)(Duration.seconds(30))).toBe(30_000)
  })
})

describe("PositiveInt", () => {
  it("accepts whole numbers from 1", () => {
    expect(Schema.is(PositiveInt)(1)).toBe(true)
    expect(Schema.is(PositiveInt)(1000)).toBe(true)
  })

  it("refuses 0, negatives and fractions", () => {
    for (const input of [0, -1, 1.5, Number.NaN]) expect(Schema.is(PositiveInt)(input), String(input)).toBe(false)
  })
})
