/**
 * `${VAR}`, `${VAR:-default}` and `${VAR:?message}` from the environment, as in a POSIX shell (and Vector):
 * `:-` uses the default when the variable is unset or empty, `:?` fails with the message. `$$` writes a
 * literal `$`. An unset `${VAR}` without a default is an error, never a silent empty string, and so is a
 * reference that cannot be read (`${A`, `${}`, `${1A}`, a reference inside a default): left as text, it
 * would become a path or a password nobody wrote.
 */
export type Interpolation =
  | { readonly _tag: "Value"; readonly value: string; readonly substituted: boolean }
  | { readonly _tag: "Missing"; readonly message: string }

const forms = "use ${NAME}, ${NAME:-default} or ${NAME:?message} (write $$ for a literal $)"
const reference = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([\s\S]*))?$/

const quote = (text: string): string => (text.length > 60 ? `${text.slice(0, 57)}...` : text)

/**
 * Where the reference opened at `start` ends, counting nested `${` (and skipping `$$`), so that a nested
 * reference is reported whole: the index of its `}` (-1 when it is never closed), and whether it nests.
 */
const closingBrace = (text: string, start: number): { readonly end: number; readonly nested: boolean } => {
  let depth = 0
  let nested = false
  for (let i = start; i < text.length; i++) {
    if (text[i] === "$" && text[i + 1] === "$") {
      i++
    } else if (text[i] === "$" && text[i + 1] === "{") {
      nested ||= depth > 0
      depth++
      i++
    } else if (text[i] === "}" && --depth === 0) {
      return { end: i, nested }
    }
  }
  return { end: -1, nested }
}

/** Why the text of a reference (between `${` and `}`) cannot be read. */
const malformed = (written: string, body: string, nested: boolean): string => {
  if (nested) return `${quote(written)} puts a reference inside another: a default or a message is plain text; ${forms}`
  if (body.trim() === "") return `${quote(written)} names no variable: ${forms}`
  if (/^[0-9]/.test(body)) return `${quote(written)} is not a valid reference: a variable name starts with a letter or _; ${forms}`
  return `${quote(written)} is not a valid reference: ${forms}`
}

export const interpolate = (text: string, env: Readonly<Record<string, string | undefined>>): Interpolation => {
  if (!text.includes("$")) return { _tag: "Value", value: text, substituted: false }
  let value = ""
  let substituted = false
  let missing: string | undefined
  let i = 0
  while (i < text.length) {
    const dollar = text.indexOf("$", i)
    if (dollar < 0) {
      value += text.slice(i)
      break
    }
    value += text.slice(i, dollar)
    const next = text[dollar + 1]
    if (next === "$") {
      value += "$"
      i = dollar + 2
      continue
    }
    if (next !== "{") {
      value += "$"
      i = dollar + 1
      continue
    }
    const { end, nested } = closingBrace(text, dollar)
    if (end < 0) {
      const written = text.slice(dollar)
      return { _tag: "Missing", message: `${quote(written)} is not closed: end the reference with }; ${forms}` }
    }
    const written = text.slice(dollar, end + 1)
    const body = text.slice(dollar + 2, end)
    const parsed = nested ? null : reference.exec(body)
    if (parsed === null) return { _tag: "Missing", message: malformed(written, body, nested) }
    const [, name, operator, argument] = parsed as unknown as [string, string, string | undefined, string | undefined]
    i = end + 1
    substituted = true
    const current = env[name]
    const set = current !== undefined && current !== ""
    if (set) {
      value += current
    } else if (operator === ":-") {
      value += (argument ?? "").replace(/\$\$/g, "$")
    } else if (operator === ":?") {
      missing ??= `environment variable ${name} is not set: ${argument === undefined || argument === "" ? "it is required" : argument}`
    } else {
      missing ??= current === "" ? `environment variable ${name} is empty: give it a value (or write \${${name}:-default} to give a default)` : `environment variable ${name} is not set (write \${${name}:-default} to give a default)`
    }
  }
  return missing === undefined ? { _tag: "Value", value, substituted } : { _tag: "Missing", message: missing }
}
