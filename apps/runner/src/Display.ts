import * as Duration from "effect/Duration"
import * as Redacted from "effect/Redacted"

/** JSON for people: secrets as <redacted>, durations as text. Never prints a secret's value. */
export const displayJson = (value: unknown): string =>
  JSON.stringify(value, (_, v: unknown) =>
    Redacted.isRedacted(v) ? "<redacted>" : Duration.isDuration(v) ? Duration.format(v) : typeof v === "bigint" ? v.toString() : v
  )
