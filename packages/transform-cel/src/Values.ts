import { Optional } from "@marcbachmann/cel-js"

/** A value CEL gave that has no place in an event. */
export class UnfitValue extends Error {}

/**
 * A CEL result as plain JSON data, what events and sinks carry. CEL integers are bigints: they become numbers
 * when JavaScript holds them exactly, and fail otherwise (rather than be rounded, or make JSON.stringify throw).
 * Timestamps become RFC 3339 text, bytes base64, durations CEL's text (`90s`), an empty optional nothing.
 */
export const toPlain = (value: unknown): unknown => {
  if (value === null || typeof value === "string" || typeof value === "boolean") return value
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new UnfitValue(`${value} is not a number JSON can hold`)
    return value
  }
  if (typeof value === "bigint") {
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new UnfitValue(`the integer ${value} is beyond what a JSON reader holds exactly (2^53); use a double or a string()`)
    }
    return Number(value)
  }
  if (value instanceof Date) return value.toISOString()
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64")
  if (value instanceof Optional) return value.hasValue() ? toPlain(value.value()) : undefined
  if (Array.isArray(value)) return value.map(toPlain)
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), toPlain(v)]))
  if (typeof value === "object") {
    const proto = Object.getPrototypeOf(value)
    if (proto === null || proto === Object.prototype) {
      const out: Record<string, unknown> = {}
      for (const [k, v] of Object.entries(value)) {
        const plain = toPlain(v)
        if (plain !== undefined) out[k] = plain
      }
      return out
    }
    // Durations and other CEL values with a text form of their own.
    return String(value)
  }
  throw new UnfitValue(`a ${typeof value} is no event value`)
}

/** The JSON kind of a plain value, named as CEL names types. */
export const kindOf = (value: unknown): string =>
  value === null
    ? "null"
    : Array.isArray(value)
      ? "list"
      : typeof value === "object"
        ? "map"
        : typeof value === "number"
          ? Number.isInteger(value)
            ? "int"
            : "double"
          : typeof value === "boolean"
            ? "bool"
            : typeof value

/**
 * Whether a plain value fits a type: a sink field's (`string`, `map`, `dyn`...) or a CEL type of the event
 * (`map<string, string>`). Checked at run time where the compiler could only say `dyn`.
 */
export const fits = (value: unknown, type: string): boolean => {
  const kind = kindOf(value)
  switch (type) {
    case "dyn":
      return true
    case "double":
      return kind === "double" || kind === "int"
    case "int":
      return kind === "int"
    case "map<string, string>":
      return kind === "map" && Object.values(value as object).every((v) => typeof v === "string")
    default:
      if (type.startsWith("map")) return kind === "map"
      if (type.startsWith("list")) return kind === "list"
      return kind === type
  }
}

/** Whether a type the compiler inferred can give a value of `wanted` (a `dyn` one may: that is checked at run time). */
export const canBe = (inferred: string, wanted: string): boolean => {
  // An optional gives its value, or nothing: the field keeps what it had (the sink's own choice, for a map).
  if (inferred.startsWith("optional<") && inferred.endsWith(">")) return canBe(inferred.slice("optional<".length, -1), wanted)
  if (wanted === "dyn" || inferred === "dyn") return true
  const base = (type: string) => (type.startsWith("map") ? "map" : type.startsWith("list") ? "list" : type === "uint" ? "int" : type)
  if (wanted === "double") return base(inferred) === "double" || base(inferred) === "int"
  if (wanted.startsWith("map<") && inferred.startsWith("map<")) {
    return inferred === wanted || inferred.endsWith(", dyn>") || wanted.endsWith(", dyn>")
  }
  return base(inferred) === base(wanted)
}
