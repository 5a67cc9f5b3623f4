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

    it("rejects a reference inside a default, naming the whole reference, instead of leaving ${HOME/x} behind", () => {
      for (const text of ["${A:-${HOME}/x}", "pre-${A:-${B:-c}}-post", "${A:?${B}}"]) {
        const message = missing(interpolate(text, { HOME: "/root", B: "b" }))
        expect(message, text).toContain(text.slice(text.indexOf("${"), text.lastIndexOf("}") + 1))
        expect(message, text).toMatch(/reference inside another/)
      }
    })

    it("says what is wrong with each malformed reference", () => {
      expect(missing(interpolate("${A", {}))).toMatch(/^\$\{A is not closed: end the reference with \}/)
      expect(missing(interpolate("x ${A:-default", {}))).toMatch(/^\$\{A:-default is not closed/)
      expect(missing(interpolate("${}", {}))).toMatch(/^\$\{\} names no variable/)
      expect(missing(interpolate("${ }", {}))).toMatch(/names no variable/)
      expect(missing(interpolate("${1A}", { "1A": "x" }))).toMatch(/^\$\{1A\} is not a valid reference: a variable name starts with a letter or _/)
    })

    it("rejects a malformed reference even when the rest of the text is fine, and one set variable does not hide it", () => {
      expect(missing(interpolate("${SET}/${", { SET: "x" }))).toMatch(/not closed/)
      expect(missing(interpolate("${SET}${1X}", { SET: "x" }))).toContain("${1X}")
    })

    it("keeps $$ as an escape inside a default, and $ before anything but { or $ as text", () => {
      expect(value(interpolate("${A:-pa$$word}", {}))).toBe("pa$word")
      expect(value(interpolate("${A:-$${B}}", {}))).toBe("${B}")
      expect(value(interpolate("cost: 5$ or $HOME", {}))).toBe("cost: 5$ or $HOME")
    })

    it("cuts a long reference short in the message", () => {
      const long = "${" + "A".repeat(300)
      expect(missing(interpolate(long, {})).length).toBeLessThan(250)
    })

    it("never puts a variable's value into the message", () => {
      const message = missing(interpolate("${KEY}${MISSING}", { KEY: "s3cr3t-write-key" }))
      expect(message).not.toContain("s3cr3t-write-key")
    })
  })
})
