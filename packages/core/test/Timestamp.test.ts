import { describe, expect, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import * as Timestamp from "../src/Timestamp.js"

// Expected instants are computed with Date.UTC, independently of the module under test.
const micros = (iso: { y: number; mo: number; d: number; h: number; mi: number; s: number }, fraction: bigint): bigint =>
  BigInt(Date.UTC(iso.y, iso.mo - 1, iso.d, iso.h, iso.mi, iso.s)) * 1000n + fraction

// The ClickHouse example row of featbit-data.md section 2: 2023-12-12 07:42:13.320000 (UTC).
const exampleSecond = { y: 2023, mo: 12, d: 12, h: 7, mi: 42, s: 13 }

describe("Timestamp.fromMicros / toMicros", () => {
  it("keeps all six fractional digits", () => {
    const value = micros(exampleSecond, 320_123n)
    const timestamp = Timestamp.fromMicros(value)
    expect(timestamp).toBe("2023-12-12T07:42:13.320123Z")
    expect(Timestamp.toMicros(timestamp)).toBe(value)
  })

  it("writes the canonical fixed-width form that the Timestamp schema accepts", () => {
    for (const fraction of [0n, 1n, 999n, 1_000n, 999_999n]) {
      const timestamp = Timestamp.fromMicros(micros(exampleSecond, fraction))
      expect(timestamp).toHaveLength("2023-12-12T07:42:13.320123Z".length)
      expect(Schema.is(Timestamp.Timestamp)(timestamp)).toBe(true)
    }
    expect(Timestamp.fromMicros(micros(exampleSecond, 1n))).toBe("2023-12-12T07:42:13.000001Z")
    expect(Timestamp.fromMicros(micros(exampleSecond, 999_999n))).toBe("2023-12-12T07:42:13.999999Z")
  })

  it("round trips a sample of instants, microsecond by microsecond", () => {
    const base = micros(exampleSecond, 0n)
    const samples = [
      0n,
      1n,
      999n,
      1_000n,
      1_001n,
      base,
      base + 1n,
      base - 1n,
      base + 999_999n,
      micros({ y: 2000, mo: 2, d: 29, h: 23, mi: 59, s: 59 }, 999_999n),
      micros({ y: 2099, mo: 12, d: 31, h: 23, mi: 59, s: 59 }, 123_456n)
    ]
    for (const value of samples) {
      expect(Timestamp.toMicros(Timestamp.fromMicros(value))).toBe(value)
    }
  })

  it("round trips instants before 1970 that are not whole milliseconds", () => {
    // 1969-12-31T23:59:59.999999Z is one microsecond before the epoch.
    expect(Timestamp.fromMicros(-1n)).toBe("1969-12-31T23:59:59.999999Z")
    const value = micros({ y: 1969, mo: 7, d: 20, h: 20, mi: 17, s: 40 }, 123_456n)
    expect(Timestamp.fromMicros(value)).toBe("1969-07-20T20:17:40.123456Z")
    expect(Timestamp.toMicros(Timestamp.fromMicros(value))).toBe(value)
  })

  it("fromMillis and fromDate give the same instant with zero microseconds", () => {
    const millis = Date.UTC(2023, 11, 12, 7, 42, 13, 320)
    expect(Timestamp.fromMillis(millis)).toBe("2023-12-12T07:42:13.320000Z")
    expect(Timestamp.fromDate(new Date(millis))).toBe("2023-12-12T07:42:13.320000Z")
  })
})

describe("Timestamp.parse", () => {
  it("reads ClickHouse's DateTime64(6) text as UTC", () => {
    expect(Timestamp.parse("2023-12-12 07:42:13.320000")).toBe("2023-12-12T07:42:13.320000Z")
    expect(Timestamp.parse("2023-12-12 07:45:01.123456")).toBe("2023-12-12T07:45:01.123456Z")
  })

  it("reads ClickHouse's second-precision _timestamp", () => {
    expect(Timestamp.parse("2023-12-12 07:42:14")).toBe("2023-12-12T07:42:14.000000Z")
  })

  it("reads ISO 8601 with Z and three fractional digits (JavaScript / BSON dates)", () => {
    expect(Timestamp.parse("2023-12-12T07:42:13.320Z")).toBe("2023-12-12T07:42:13.320000Z")
    expect(Timestamp.parse(new Date(Date.UTC(2023, 11, 12, 7, 42, 13, 320)).toISOString())).toBe(
      "2023-12-12T07:42:13.320000Z"
    )
  })

  it("reads ISO 8601 without a fraction", () => {
    expect(Timestamp.parse("2023-12-12T07:42:13Z")).toBe("2023-12-12T07:42:13.000000Z")
  })

  it("reads an offset and converts it to UTC, keeping the microseconds", () => {
    expect(Timestamp.parse("2023-12-12T09:42:13.320123+02:00")).toBe("2023-12-12T07:42:13.320123Z")
    expect(Timestamp.parse("2023-12-12T02:42:13.320123-05:00")).toBe("2023-12-12T07:42:13.320123Z")
    expect(Timestamp.parse("2023-12-12T09:42:13.320+0200")).toBe("2023-12-12T07:42:13.320000Z")
    expect(Timestamp.parse("2023-12-12T07:42:13.320123+00:00")).toBe("2023-12-12T07:42:13.320123Z")
  })

  it("crosses a day boundary when the offset says so", () => {
    expect(Timestamp.parse("2024-01-01T01:00:00.5+02:00")).toBe("2023-12-31T23:00:00.500000Z")
    expect(Timestamp.parse("2023-12-31T22:30:00.000001-02:00")).toBe("2024-01-01T00:30:00.000001Z")
  })

  it("cuts nine fractional digits to six without rounding up", () => {
    expect(Timestamp.parse("2023-12-12T07:42:13.320123456Z")).toBe("2023-12-12T07:42:13.320123Z")
    // rounding would carry into the next second (and, here, the next day and year)
    expect(Timestamp.parse("2023-12-31T23:59:59.999999999Z")).toBe("2023-12-31T23:59:59.999999Z")
    expect(Timestamp.parse("2023-12-12T09:42:13.999999999+02:00")).toBe("2023-12-12T07:42:13.999999Z")
  })

  it("returns an already canonical value unchanged", () => {
    expect(Timestamp.parse("2023-12-12T07:42:13.320123Z")).toBe("2023-12-12T07:42:13.320123Z")
  })

  it("returns undefined for text that is not a date-time", () => {
    for (const input of [
      "",
      "   ",
      "yesterday",
      "2023-12-12",
      "07:42:13",
      "1702366933320000",
      "2023/12/12 07:42:13",
      "2023-12-12T07:42Z",
      "2023-12-12T07:42:13.Z",
      "2023-12-12T07:42:13.1234567890Z",
      "2023-12-12T07:42:13.320000+2",
      "2023-12-12 07:42:13.320000 UTC"
    ]) {
      expect(Timestamp.parse(input), JSON.stringify(input)).toBeUndefined()
    }
  })

  it("returns undefined for impossible dates and times in the ClickHouse / ISO forms", () => {
    for (const input of [
      "2023-13-01 00:00:00",
      "2023-12-32T00:00:00Z",
      "2023-12-12 25:00:00",
      "2023-02-30 00:00:00",
      "2023-04-31T10:00:00.000+02:00"
    ]) {
      expect(Timestamp.parse(input), JSON.stringify(input)).toBeUndefined()
    }
  })

  it("returns undefined for impossible dates and times written in the canonical form", () => {
    for (const input of ["2023-13-45T99:99:99.000000Z", "2023-02-30T00:00:00.000000Z"]) {
      expect(Timestamp.parse(input), JSON.stringify(input)).toBeUndefined()
    }
  })

  it("only ever returns canonical timestamps (parse then round trip is the identity)", () => {
    for (const input of [
      "2023-12-12 07:42:13.320000",
      "2023-12-12T09:42:13.320123+02:00",
      "2023-12-12T07:42:13.320123456Z",
      "2023-12-12T24:00:00Z",
      "2023-12-12T23:59:60Z"
    ]) {
      const parsed = Timestamp.parse(input)
      if (parsed === undefined) continue
      expect(Schema.is(Timestamp.Timestamp)(parsed), input).toBe(true)
      expect(Timestamp.fromMicros(Timestamp.toMicros(parsed)), input).toBe(parsed)
    }
  })
})

describe("Timestamp string order", () => {
  // A deterministic spread of instants from 1970 to 2100, plus neighbours one microsecond apart.
  const sample = (): Array<bigint> => {
    const out: Array<bigint> = []
    let state = 0x2545f491n
    const end = micros({ y: 2100, mo: 1, d: 1, h: 0, mi: 0, s: 0 }, 0n)
    for (let i = 0; i < 200; i++) {
      state = (state * 6364136223846793005n + 1442695040888963407n) % 2n ** 64n
      const value = state % end
      out.push(value, value + 1n, value + 999n, value + 1_000n, value + 1_000_000n)
    }
    const base = micros(exampleSecond, 0n)
    out.push(0n, base, base + 9n, base + 10n, base + 99n, base + 100n, base + 100_000n)
    return out
  }

  it("equals time order for canonical timestamps", () => {
    const values = sample()
    const stamps = values.map(Timestamp.fromMicros)
    for (let i = 0; i < values.length; i++) {
      for (let j = i + 1; j < values.length; j += 7) {
        const byTime = Math.sign(Number(values[i]! - values[j]!))
        const byText = stamps[i]! < stamps[j]! ? -1 : stamps[i]! > stamps[j]! ? 1 : 0
        expect(byText).toBe(byTime)
      }
    }
  })

  it("equals time order for values parsed from different source formats", () => {
    const inputs = [
      "2023-12-12T09:42:13.320124+02:00",
      "2023-12-12 07:42:13.320000",
      "2023-12-12T07:42:13.32Z",
      "2023-12-12T07:42:13.320000001Z",
      "2023-12-12T02:42:13.320002-05:00",
      "2023-12-12 07:42:14",
      "2023-12-12T07:42:13Z"
    ]
    const parsed = inputs.map((input) => Timestamp.parse(input)!)
    const sortedByText = [...parsed].sort()
    const sortedByTime = [...parsed].sort((a, b) => Number(Timestamp.toMicros(a) - Timestamp.toMicros(b)))
    expect(sortedByText).toEqual(sortedByTime)
    expect(sortedByText[0]).toBe("2023-12-12T07:42:13.000000Z")
    expect(sortedByText[sortedByText.length - 1]).toBe("2023-12-12T07:42:14.000000Z")
  })

  it("minusMicros holds a horizon back by exactly the lag", () => {
    const t = Timestamp.fromMicros(micros(exampleSecond, 320_000n))
    expect(Timestamp.minusMicros(t, 30_000_000n)).toBe("2023-12-12T07:41:43.320000Z")
    expect(Timestamp.minusMicros(t, 320_001n)).toBe("2023-12-12T07:42:12.999999Z")
  })
})
