/**
 * `${VAR}`, `${VAR:-default}` and `${VAR:?message}` from the environment, as in a POSIX shell (and Vector):
 * `:-` uses the default when the variable is unset or empty, `:?` fails with the message. `$$` writes a
 * literal `$`. An unset `${VAR}` without a default is an error, never a silent empty string.
 */
export type Interpolation =
  | { readonly _tag: "Value"; readonly value: string; readonly substituted: boolean }
  | { readonly _tag: "Missing"; readonly message: string }

const pattern = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}|\$\{[^}]*\}?/g

export const interpolate = (text: string, env: Readonly<Record<string, string | undefined>>): Interpolation => {
  if (!text.includes("$")) return { _tag: "Value", value: text, substituted: false }
  let missing: string | undefined
  let substituted = false
  const value = text.replace(pattern, (match, name: string | undefined, operator: string | undefined, argument: string | undefined) => {
    if (match === "$$") return "$"
    if (name === undefined) {
      missing ??= `${match} is not a valid reference: use \${NAME}, \${NAME:-default} or \${NAME:?message} (write $$ for a literal $)`
      return match
    }
    substituted = true
    const current = env[name]
    const set = current !== undefined && current !== ""
    if (operator === ":-") return set ? current : (argument ?? "")
    if (set) return current
    if (operator === ":?") {
      missing ??= `environment variable ${name} is not set: ${argument === undefined || argument === "" ? "it is required" : argument}`
    } else {
      missing ??= current === "" ? `environment variable ${name} is empty` : `environment variable ${name} is not set (write \${${name}:-default} to give a default)`
    }
    return match
  })
  return missing === undefined ? { _tag: "Value", value, substituted } : { _tag: "Missing", message: missing }
}
