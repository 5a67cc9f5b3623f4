import * as Redacted from "effect/Redacted"
import { describe, expect, it } from "vitest"
import { answerExcerpt, answerSecretForms, configSecretForms } from "../../src/http/AnswerExcerpt.js"

const KEY = "wk_live_Secret/Key+1"

describe("answerSecretForms", () => {
  it("holds each secret as written, JSON-escaped, URL-encoded and base64, longest first, without duplicates", () => {
    const forms = answerSecretForms([KEY, KEY, `${KEY}:`])
    expect(forms).toContain(KEY)
    expect(forms).toContain(encodeURIComponent(KEY))
    expect(forms).toContain(Buffer.from(KEY).toString("base64"))
    expect(forms).toContain(Buffer.from(`${KEY}:`).toString("base64"))
    expect(new Set(forms).size).toBe(forms.length)
    expect([...forms].sort((a, b) => b.length - a.length).map((form) => form.length)).toEqual(forms.map((form) => form.length))
  })

  it("leaves out empty secrets, which would match everywhere", () => {
    expect(answerSecretForms(["", ""])).toEqual([])
  })

  it("of a configuration: its Redacted values, and the extra credentials given", () => {
    const forms = configSecretForms({ apiKey: Redacted.make(KEY), region: "eu" }, ["user:pa55word-long"])
    expect(forms).toContain(KEY)
    expect(forms).toContain(Buffer.from("user:pa55word-long").toString("base64"))
    expect(forms).not.toContain("eu")
  })
})

describe("answerExcerpt", () => {
  const forms = answerSecretForms([KEY, `${KEY}:`])

  it("strips markup and folds whitespace onto one line", () => {
    expect(answerExcerpt("<p>no\n  way</p>", forms)).toBe("no way")
  })

  it("replaces the secret in every form", () => {
    expect(answerExcerpt(`x ${KEY} y`, forms)).toBe("x [redacted] y")
    expect(answerExcerpt(`auth Basic ${Buffer.from(`${KEY}:`).toString("base64")}`, forms)).toBe("auth Basic [redacted]")
    expect(answerExcerpt(`"${encodeURIComponent(KEY)}"`, forms)).toBe(`"[redacted]"`)
  })

  it("cuts at max characters (160 unless told), after the secrets are replaced", () => {
    expect(answerExcerpt("a".repeat(500), forms)).toBe(`${"a".repeat(160)}…`)
    expect(answerExcerpt("a".repeat(500), forms, 10)).toBe(`${"a".repeat(10)}…`)
    const quoted = answerExcerpt(`${"a".repeat(150)}${KEY}`, forms)
    expect(quoted).toBe(`${"a".repeat(150)}[redacted]`)
    expect(quoted).not.toContain(KEY.slice(0, 5))
  })
})
