import { describe, expect, it } from "@effect/vitest"
import { type Interpolation, interpolate } from "../src/Interpolate.js"

const value = (result: Interpolation): string => {
  if (result._tag !== "Value") throw new Error(`expected a value, got: ${result.message}`)
  return result.value
}

const missing = (result: Interpolation): string => {
  if (result._tag !== "Missing") throw new Error(`expected an error, got the value ${JSON.stringify(result.value)}`)
  return result.message
}

describe("interpolate", () => {
  it("leaves text without references alone", () => {
    expect(interpolate("clickhouse.internal", {})).toEqual({ _tag: "Value", value: "clickhouse.internal", substituted: false })
  })

  it("replaces ${VAR}, alone or inside text", () => {
    const env = { CH_HOST: "ch.internal", CH_PORT: "8123" }
    expect(interpolate("${CH_HOST}", env)).toEqual({ _tag: "Value", value: "ch.internal", substituted: true })
    expect(value(interpolate("http://${CH_HOST}:${CH_PORT}/", env))).toBe("http://ch.internal:8123/")
  })

  it("does not interpret the value of a variable again", () => {
    expect(value(interpolate("${A}", { A: "${B}", B: "nope" }))).toBe("${B}")
    expect(value(interpolate("${A}", { A: "$$" }))).toBe("$$")
  })

  describe("${VAR:-default}", () => {
    it("uses the variable when it is set", () => {
      expect(value(interpolate("${DB:-featbit}", { DB: "analytics" }))).toBe("analytics")
    })

    it("uses the default when the variable is unset", () => {
      expect(value(interpolate("${DB:-featbit}", {}))).toBe("featbit")
      expect(value(interpolate("${DB:-}", {}))).toBe("")
    })

    it("uses the default when the variable is empty", () => {
      expect(value(interpolate("${DB:-featbit}", { DB: "" }))).toBe("featbit")
    })

    it("keeps spaces and punctuation of the default", () => {
      expect(value(interpolate("${URL:-http://localhost:8123/?a=b c}", {}))).toBe("http://localhost:8123/?a=b c")
    })
  })

  describe("${VAR:?message}", () => {
    it("uses the variable when it is set", () => {
      expect(value(interpolate("${WRITE_KEY:?set the Segment write key}", { WRITE_KEY: "wk" }))).toBe("wk")
    })

    it("fails with the message when the variable is unset or empty", () => {
      for (const env of [{}, { WRITE_KEY: "" }]) {
        const message = missing(interpolate("${WRITE_KEY:?set the Segment write key}", env))
        expect(message).toContain("set the Segment write key")
        expect(message).toContain("WRITE_KEY")
      }
    })

    it("fails naming the variable when the message is empty", () => {
      expect(missing(interpolate("${WRITE_KEY:?}", {}))).toContain("WRITE_KEY")
    })
  })

  describe("$$", () => {
    it("writes a literal $", () => {
      expect(value(interpolate("pa$$word", {}))).toBe("pa$word")
      expect(value(interpolate("$$$$", {}))).toBe("$$")
    })

    it("escapes a reference, which is then not substituted", () => {
      expect(value(interpolate("$${HOME}", { HOME: "/root" }))).toBe("${HOME}")
      expect(value(interpolate("$$${HOME}", { HOME: "/root" }))).toBe("$/root")
    })
  })

  describe("errors", () => {
    it("an unset ${VAR} is an error naming the variable, not an empty string", () => {
      const message = missing(interpolate("${SEGMENT_WRITE_KEY}", { OTHER: "x" }))
      expect(message).toContain("SEGMENT_WRITE_KEY")
    })

    it("an unset variable inside text is an error too", () => {
      expect(missing(interpolate("http://${CH_HOST}:8123", {}))).toContain("CH_HOST")
    })

    it("reports the unset variable, not one that is set", () => {
      const message = missing(interpolate("${SET}/${UNSET}", { SET: "x" }))
      expect(message).toContain("UNSET")
      expect(message).not.toMatch(/\bSET\b/)
    })

    it("rejects malformed references, quoting them", () => {
      for (const text of ["${}", "${1HOST}", "${HOST", "${HOST:+x}", "${HOST-default}", "${HO ST}"]) {
        const message = missing(interpolate(text, { HOST: "h", "1HOST": "h" }))
        expect(message, text).toContain(text)
      }
    })

    it("never puts a variable's value into the message", () => {
      const message = missing(interpolate("${KEY}${MISSING}", { KEY: "s3cr3t-write-key" }))
      expect(message).not.toContain("s3cr3t-write-key")
    })
  })
})
