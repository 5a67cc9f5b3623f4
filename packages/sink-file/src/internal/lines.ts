import type { ExportEvent, RejectedEvent, SinkBatch, SinkFields } from "@featbit-export/core"

// Stores can hand out 64-bit integers as bigint inside `properties`; JSON.stringify would throw on them.
const replacer = (_: string, value: unknown): unknown => (typeof value === "bigint" ? value.toString() : value)

/**
 * One NDJSON line, without its "\n": an event, or the record `sink.map` computed for it. JSON escapes line
 * breaks inside strings, so it never spans lines. Plain `JSON.stringify` first: a replacer makes V8 leave
 * its fast path (a third slower, measured on 100k FeatBit events), and only a bigint (MongoDB's Long) needs
 * one; that throws a TypeError, and is retried.
 */
export const toLine = (value: unknown): string => {
  try {
    return JSON.stringify(value)
  } catch (error) {
    if (error instanceof TypeError) return JSON.stringify(value, replacer)
    throw error
  }
}

/** What the event's line holds: the record `sink.map` computed for it, or the whole event. */
export const lineValue = (event: ExportEvent, fields: SinkFields | undefined): unknown => {
  const record = fields?.["record"]
  return record === undefined ? event : record
}

/** What a batch becomes on disk: one buffer, so it is appended with one write and fsynced once. */
export interface EncodedBatch {
  readonly bytes: Buffer
  readonly rejected: ReadonlyArray<RejectedEvent>
}

/**
 * Serialises a batch. An event that cannot be serialised (a value JSON has no form for) is rejected for
 * good: retrying would fail the same way, so it goes to the dead-letter file instead of blocking the rest.
 */
export const encodeBatch = ({ events, fields }: Pick<SinkBatch, "events" | "fields">): EncodedBatch => {
  const lines: Array<string> = []
  const rejected: Array<RejectedEvent> = []
  for (const event of events) {
    try {
      lines.push(toLine(lineValue(event, fields?.(event))) + "\n")
    } catch (cause) {
      rejected.push({ event, reason: `cannot be written as JSON: ${cause instanceof Error ? cause.message : String(cause)}` })
    }
  }
  return { bytes: Buffer.from(lines.join(""), "utf8"), rejected }
}
