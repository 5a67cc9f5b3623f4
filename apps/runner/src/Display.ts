import { Secrets } from "@featbit-export/core"
import * as Duration from "effect/Duration"
import * as Redacted from "effect/Redacted"

const replacer = (urls: boolean) =>
  function (this: Record<string, unknown>, key: string, serialised: unknown): unknown {
    // JSON.stringify hands the replacer what `toJSON` made of a value; look at the value itself.
    const original = this[key]
    if (Redacted.isRedacted(original)) return "<redacted>"
    if (Duration.isDuration(original)) return Duration.format(original)
    if (urls && typeof serialised === "string") return Secrets.redactUrl(serialised)
    return typeof serialised === "bigint" ? serialised.toString() : serialised
  }

/** JSON for people: secrets as <redacted>, durations as text. Never prints a secret's value. */
export const displayJson = (value: unknown): string => JSON.stringify(value, replacer(false))

/**
 * A configuration as `displayJson` shows it, and a URL's password as `***` (`http://user:***@host`), whatever
 * its length: even one too short to be scrubbed elsewhere is not shown. Events are shown as they are.
 */
export const displayConfig = (value: unknown): string => JSON.stringify(value, replacer(true))
