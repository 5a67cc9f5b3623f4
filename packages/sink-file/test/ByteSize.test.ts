import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { FileSinkConfig } from "../src/index.js"

const decode = Schema.decodeUnknownEither(FileSinkConfig)

describe("maxBytes", () => {
  it("accepts bytes, SI units and binary units", () => {
    const cases: ReadonlyArray<readonly [unknown, number]> = [
      [4096, 4096],
      ["4096", 4096],
      ["500KB", 500_000],
      ["100MB", 100_000_000],
      ["100 mb", 100_000_000],
      ["1GiB", 1024 * 1024 * 1024],
      ["1.5 KiB", 1536],
      ["2TB", 2_000_000_000_000]
    ]
    for (const [input, bytes] of cases) {
      expect(decode({ path: "x.ndjson", maxBytes: input }), String(input)).toStrictEqual(
        Either.right({ path: "x.ndjson", maxBytes: bytes })
      )
    }
  })

  it("is optional: absent means never rotate", () => {
    expect(decode({ path: "x.ndjson" })).toStrictEqual(Either.right({ path: "x.ndjson" }))
  })

  it("rejects sizes that are not a positive whole number of bytes, saying what it expected", () => {
    for (const input of [0, -5, 12.5, "", "MB", "100 parsecs", "1e6", "100MBs", null]) {
      const result = decode({ path: "x.ndjson", maxBytes: input })
      expect(Either.isLeft(result), String(input)).toBe(true)
    }
    const result = decode({ path: "x.ndjson", maxBytes: "ten megabytes" })
    expect(Either.isLeft(result) && String(result.left)).toContain("100MB")
  })

  it("requires a non-empty path", () => {
    expect(Either.isLeft(decode({}))).toBe(true)
    expect(Either.isLeft(decode({ path: "" }))).toBe(true)
  })
})
