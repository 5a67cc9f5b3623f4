import * as Duration from "effect/Duration"

/**
 * The wait a `Retry-After` header asks for: seconds (fractions allowed), or an HTTP date (`now` is the clock it
 * is measured against; a date in the past waits nothing). Undefined when there is no header or it says neither.
 */
export const parseRetryAfter = (header: string | null, now: number = Date.now()): Duration.Duration | undefined => {
  if (header === null || header.trim() === "") return undefined
  const text = header.trim()
  if (/^\d+(\.\d+)?$/.test(text)) return Duration.millis(Math.round(Number(text) * 1000))
  const at = Date.parse(text)
  return Number.isNaN(at) ? undefined : Duration.millis(Math.max(0, at - now))
}
