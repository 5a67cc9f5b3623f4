import * as Duration from "effect/Duration"
import { describe, expect, it } from "vitest"
import { parseRetryAfter } from "../../src/http/RetryAfter.js"

describe("parseRetryAfter", () => {
  const now = Date.UTC(2024, 5, 1)

  it("reads seconds, fractions included", () => {
    expect(parseRetryAfter("7", now)).toEqual(Duration.millis(7000))
    expect(parseRetryAfter(" 1.5 ", now)).toEqual(Duration.millis(1500))
  })

  it("reads an HTTP date as the wait until it; a past date waits nothing", () => {
    expect(parseRetryAfter("Sat, 01 Jun 2024 00:00:30 GMT", now)).toEqual(Duration.millis(30_000))
    expect(parseRetryAfter("Fri, 31 May 2024 23:00:00 GMT", now)).toEqual(Duration.millis(0))
  })

  it("is undefined without a header, or for one that is neither", () => {
    expect(parseRetryAfter(null, now)).toBeUndefined()
    expect(parseRetryAfter("  ", now)).toBeUndefined()
    expect(parseRetryAfter("soon", now)).toBeUndefined()
  })
})
