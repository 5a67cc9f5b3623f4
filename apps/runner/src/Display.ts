import * as Duration from "effect/Duration"
import * as Redacted from "effect/Redacted"

/** JSON for people: secrets as <redacted>, durations as text. Never prints a secret's value. */
export const displayJson = (value: unknown): string =>
  JSON.stringify(value, function (this: Record<string, unknown>, key: string, serialised: unknown) {
    // JSON.stringify hands the replacer what `toJSON` made of a value; look at the value itself.
    const original = this[key]
    if (Redacted.isRedacted(original)) return "<redacted>"
    if (Duration.isDuration(original)) return Duration.format(original)
    return typeof serialised === "bigint" ? serialised.toString() : serialised
  })
