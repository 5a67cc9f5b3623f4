import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { DateTimeSetting, DurationSetting, NonNegativeInt, PositiveInt, ValueIssue, atMost, durationAtLeast, formatDuration, showValue } from "../src/Settings.js"

const millis = (input: unknown, schema: Schema.Schema<Duration.Duration, unknown> = DurationSetting): number => {
  const result = Schema.decodeUnknownEither(schema)(input)
  if (Either.isLeft(result)) throw new Error(ParseResult.TreeFormatter.formatErrorSync(result.left))
  return Duration.toMillis(result.right)
}

/** The refusal's two wordings: with the value, and without it (for values from the environment). */
const refusal = <A, I>(
  input: unknown,
  schema: Schema.Schema<A, I> = DurationSetting as unknown as Schema.Schema<A, I>
): { message: string; hidden: string } => {
  const result = Schema.decodeUnknownEither(schema)(input)
  if (Either.isRight(result)) throw new Error(`expected ${JSON.stringify(input)} to be refused`)
  let issue: ParseResult.ParseIssue = result.left.issue
  while (!(issue instanceof ValueIssue)) {
    if (!("issue" in issue)) throw new Error(`no ValueIssue in ${ParseResult.TreeFormatter.formatErrorSync(result.left)}`)
    issue = issue.issue as ParseResult.ParseIssue
  }
  return { message: issue.message!, hidden: issue.hidden }
}

describe("DurationSetting", () => {
  it("reads text with a unit", () => {
    expect(millis("500ms")).toBe(500)
    expect(millis("30s")).toBe(30_000)
    expect(millis("5m")).toBe(300_000)
    expect(millis("1h")).toBe(3_600_000)
    expect(millis("1.5s")).toBe(1500)
    expect(millis(" 30s ")).toBe(30_000)
    expect(millis("30 s")).toBe(30_000)
  })

  it("reads 0 without a unit, as a number or as text", () => {
    expect(millis(0)).toBe(0)
    expect(millis("0")).toBe(0)
    expect(millis("0s")).toBe(0)
  })

  it("refuses a bare number other than 0, saying how to write it with a unit", () => {
    expect(refusal(30).message).toBe("30 is a number without a unit: write 30s (or 30000ms), or 30ms if milliseconds were meant")
    // Thousands are likelier milliseconds written out.
    expect(refusal(1500).message).toBe("1500 is a number without a unit: write 1500ms, or 1500s if seconds were meant")
    expect(refusal(5000).message).toBe("5000 is a number without a unit: write 5000ms (or 5s), or 5000s if seconds were meant")
    // The same number written as text (a quoted value, or one from the environment).
    expect(refusal("30").message).toBe('"30" is a number without a unit: write 30s (or 30000ms), or 30ms if milliseconds were meant')
  })

  it("says how to write a unit spelled out, or one it does not have", () => {
    expect(refusal("30 seconds").message).toBe('"30 seconds" is not a duration: write 30s (units: ms, s, m, h)')
    expect(refusal("5 minutes").message).toMatch(/write 5m /)
    expect(refusal("2 hours").message).toMatch(/write 2h /)
    expect(refusal("1d").message).toMatch(/write 24h /)
    expect(refusal("10S").message).toMatch(/write 10s /)
  })

  it("refuses text that is not a duration, with a message that shows the expected form and the value", () => {
    for (const input of ["soon", "s", "", "1.2.3s", "5 parsecs"]) {
      const { message } = refusal(input)
      expect(message, input).toMatch(/duration/i)
      expect(message, input).toMatch(/30s|500ms/)
      expect(message, input).toContain(JSON.stringify(input))
    }
  })

  it("refuses negative durations, as numbers or text", () => {
    expect(refusal(-1).message).toMatch(/^-1 is negative: a duration is 0 or more/)
    expect(refusal("-5s").message).toMatch(/^"-5s" is negative/)
  })

  it("refuses values of other types, infinities, and durations past 24 days", () => {
    for (const input of [true, null, { seconds: 5 }, [1], Number.POSITIVE_INFINITY, Number.NaN]) {
      expect(refusal(input).message, String(input)).toMatch(/is not a duration: write a number with a unit/)
    }
    expect(millis("576h")).toBe(576 * 3_600_000)
    expect(refusal("577h").message).toBe('"577h" is longer than 24 days (576h), the most a duration may be')
  })

  it("has a wording without the value for every refusal", () => {
    // (Values that are not in the examples the messages give.)
    for (const input of [45, "45", "soon", "-7s", "45 seconds", "577h", true]) {
      const { hidden } = refusal(input)
      expect(hidden, String(input)).not.toContain(String(input))
      expect(hidden, String(input)).toMatch(/^the value /)
    }
  })

  it("encodes to text a pipeline file accepts", () => {
    for (const duration of [Duration.seconds(30), Duration.millis(1500), Duration.hours(2), Duration.zero]) {
      const encoded = Schema.encodeSync(DurationSetting)(duration)
      expect(typeof encoded).toBe("string")
      expect(millis(encoded)).toBe(Duration.toMillis(duration))
    }
    expect(formatDuration(Duration.millis(1500))).toBe("1500ms")
    expect(formatDuration(Duration.minutes(90))).toBe("90m")
  })

  it("describes the form with a pattern in the JSON Schema, and 0 as the one bare number", () => {
    const ast = (DurationSetting.ast as unknown as { from: { annotations: Record<symbol, unknown> } }).from
    const jsonSchema = ast.annotations[Symbol.for("effect/annotation/JSONSchema")] as { anyOf: [{ const: number }, { pattern: string }] }
    expect(jsonSchema.anyOf[0]).toEqual({ const: 0 })
    const pattern = new RegExp(jsonSchema.anyOf[1].pattern)
    for (const good of ["0", "500ms", "30s", "5m", "1h", "1.5s"]) expect(pattern.test(good), good).toBe(true)
    for (const bad of ["30", "30 seconds", "-5s", "1d"]) expect(pattern.test(bad), bad).toBe(false)
  })
})

describe("durationAtLeast", () => {
  const PollInterval = DurationSetting.pipe(durationAtLeast(Duration.millis(100), "it would spin"))

  it("accepts the minimum and above", () => {
    expect(millis("100ms", PollInterval)).toBe(100)
    expect(millis("5s", PollInterval)).toBe(5000)
  })

  it("refuses shorter durations, zero included, naming the minimum and why", () => {
    expect(refusal("10ms", PollInterval)).toEqual({ message: "10ms is shorter than 100ms: it would spin", hidden: "the value is shorter than 100ms: it would spin" })
    expect(refusal(0, PollInterval).message).toBe("0s is shorter than 100ms: it would spin")
  })
})

describe("PositiveInt and NonNegativeInt", () => {
  it("accept whole numbers from their minimum", () => {
    expect(Schema.is(PositiveInt)(1)).toBe(true)
    expect(Schema.is(PositiveInt)(1000)).toBe(true)
    expect(Schema.is(NonNegativeInt)(0)).toBe(true)
  })

  it("refuse what is below, fractions and numbers past what is safe, in one sentence", () => {
    for (const input of [0, -1, 1.5, Number.NaN, 2 ** 60]) expect(Schema.is(PositiveInt)(input), String(input)).toBe(false)
    expect(refusal(0, PositiveInt).message).toBe("0 is not a whole number of at least 1")
    expect(refusal(-1, NonNegativeInt).message).toBe("-1 is not a whole number of at least 0")
  })
})

describe("atMost", () => {
  const BatchSize = PositiveInt.pipe(atMost(100_000, "a page is held in memory whole"))

  it("refuses a count above the cap, however it is written", () => {
    expect(refusal(1e12, BatchSize)).toEqual({
      message: "1000000000000 is more than 100000: a page is held in memory whole",
      hidden: "the value is more than 100000: a page is held in memory whole"
    })
    expect(Schema.is(BatchSize)(100_000)).toBe(true)
  })
})

describe("DateTimeSetting", () => {
  it("refuses what is not a date-time, text or not, with an example", () => {
    expect(refusal("yesterday", DateTimeSetting).message).toBe('"yesterday" is not a date-time: write a UTC date-time such as 2024-01-01T00:00:00Z')
    expect(refusal(20240101, DateTimeSetting).message).toMatch(/^20240101 is not a date-time/)
  })
})

describe("showValue", () => {
  it("quotes scalars, names blocks without their content, and cuts long text", () => {
    expect(showValue("a")).toBe('"a"')
    expect(showValue(5)).toBe("5")
    expect(showValue({ password: "p" })).toBe("a block of keys")
    expect(showValue(["p"])).toBe("a list")
    expect(showValue(null)).toBe("an empty value")
    expect(showValue("x".repeat(500)).length).toBeLessThanOrEqual(60)
  })
})
