import * as Schema from "effect/Schema"

/**
 * A UTC instant with microsecond precision, written `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
 *
 * FeatBit Pro stores `DateTime64(6)`; a JavaScript `Date` would cut the last three digits, so instants stay
 * strings in one fixed-width format. Fixed width makes string order equal time order, which is what keyset
 * cursors compare.
 */
/** True when the text names a real instant: Date.parse accepts 2024-02-31, so the date must survive a round trip. */
const isRealInstant = (text: string): boolean => {
  const millis = Date.parse(text.slice(0, 23) + "Z")
  return !Number.isNaN(millis) && new Date(millis).toISOString().slice(0, 23) === text.slice(0, 23)
}

export const Timestamp = Schema.String.pipe(
  Schema.pattern(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/),
  Schema.filter((text) => isRealInstant(text) || "not a real date and time"),
  Schema.brand("Timestamp"),
  Schema.annotations({
    identifier: "Timestamp",
    description: "UTC instant with microseconds, e.g. 2023-12-12T07:42:13.320000Z"
  })
)
export type Timestamp = typeof Timestamp.Type

const canonical = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/
// "2023-12-12 07:42:13.32", "2023-12-12T07:42:13Z", "2023-12-12T07:42:13.320+00:00", ...
const loose = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$/

/** The instant `micros` microseconds after the Unix epoch. */
export const fromMicros = (micros: bigint): Timestamp => {
  // Floor division, so instants before 1970 keep a positive sub-millisecond part.
  const rest = ((micros % 1000n) + 1000n) % 1000n
  const millis = (micros - rest) / 1000n
  const iso = new Date(Number(millis)).toISOString() // 2023-12-12T07:42:13.320Z
  return (iso.slice(0, 23) + rest.toString().padStart(3, "0") + "Z") as Timestamp
}

/** The instant `millis` milliseconds after the Unix epoch (what a BSON Date or a JS Date holds). */
export const fromMillis = (millis: number): Timestamp => fromMicros(BigInt(Math.trunc(millis)) * 1000n)

export const fromDate = (date: Date): Timestamp => fromMillis(date.getTime())

/** Microseconds since the Unix epoch. */
export const toMicros = (timestamp: Timestamp): bigint =>
  BigInt(Date.parse(timestamp.slice(0, 23) + "Z")) * 1000n + BigInt(timestamp.slice(23, 26))

/**
 * Reads the date-time forms FeatBit's stores produce: ClickHouse's `2023-12-12 07:42:13.320000`
 * (UTC, no zone), ISO 8601 with `Z` or an offset, and fewer or more than six fractional digits
 * (digits past the sixth are cut, never rounded up). Returns `undefined` for anything else.
 */
export const parse = (input: string): Timestamp | undefined => {
  if (canonical.test(input)) return isRealInstant(input) ? (input as Timestamp) : undefined
  const match = loose.exec(input.trim())
  if (match === null) return undefined
  const [, date, time, fraction = "", zone = "Z"] = match
  const micros = (fraction + "000000").slice(0, 6)
  if (zone === "Z" || zone === "+00:00" || zone === "+0000" || zone === "-00:00") {
    const candidate = `${date}T${time}.${micros}Z`
    return isRealInstant(candidate) ? (candidate as Timestamp) : undefined
  }
  if (!isRealInstant(`${date}T${time}.000Z`)) return undefined
  const millis = Date.parse(`${date}T${time}${zone.length === 5 ? zone.slice(0, 3) + ":" + zone.slice(3) : zone}`)
  if (Number.isNaN(millis)) return undefined
  return fromMicros(BigInt(millis) * 1000n + BigInt(micros))
}

/** Subtracts `micros` microseconds: used to hold a read horizon back by a lag. */
export const minusMicros = (timestamp: Timestamp, micros: bigint): Timestamp =>
  fromMicros(toMicros(timestamp) - micros)

export const now = (): Timestamp => fromMillis(Date.now())
