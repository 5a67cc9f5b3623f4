import { type ColumnPlan, type ExportEvent, type SinkFields, eventRow } from "@featbit-export/core"
import { createHash } from "node:crypto"

/** Core's `2024-01-01T00:00:00.123456Z` as ClickHouse reads a DateTime64(6) by default: `2024-01-01 00:00:00.123456`. */
const clickhouseTime = (value: unknown): unknown => (typeof value === "string" ? value.slice(0, 10) + " " + value.slice(11, -1) : value)

/** One event as the JSONEachRow object the table receives: named by the table's columns, json columns as text. */
export const rowObject = (plan: ColumnPlan, event: ExportEvent, fields?: SinkFields): Record<string, unknown> => {
  const row = eventRow(event, fields) as Record<string, unknown>
  const out: Record<string, unknown> = {}
  for (const { column, target } of plan.columns) {
    const value = row[column.name]
    out[target] =
      value === null || value === undefined
        ? null
        : column.kind === "timestamp"
          ? clickhouseTime(value)
          : column.kind === "json"
            ? JSON.stringify(value)
            : value
  }
  return out
}

/** An event ready to insert: its JSONEachRow line and its size in bytes. */
export interface EncodedRow {
  readonly event: ExportEvent
  readonly line: string
  readonly bytes: number
}

export const encodeRow = (plan: ColumnPlan, event: ExportEvent, fields?: SinkFields): EncodedRow => {
  const line = JSON.stringify(rowObject(plan, event, fields)) + "\n"
  return { event, line, bytes: Buffer.byteLength(line) }
}

/**
 * The `insert_deduplication_token` of one insert: a digest of its events' ids in order. The same events
 * cut the same way give the same token, after a retry or after a restart that reads the same page again, so
 * the server drops the insert it already stored.
 */
export const dedupToken = (rows: ReadonlyArray<{ readonly event: ExportEvent }>): string => {
  const hash = createHash("sha256")
  for (const row of rows) hash.update(row.event.id).update("\n")
  return `featbit-export-v1-${rows.length}-${hash.digest("hex")}`
}
