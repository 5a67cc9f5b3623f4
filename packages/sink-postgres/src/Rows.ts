import { type ColumnPlan, type EventRow, type ExportEvent, type SinkFields, eventRow } from "@featbit-export/core"

/** A value in COPY's text format: backslash, tab, newline and carriage return escaped; null as \N. */
const copyText = (text: string): string => text.replace(/[\\\t\n\r]/g, (c) => (c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\r"))

const copyValue = (kind: string, value: unknown): string => {
  if (value === null || value === undefined) return "\\N"
  if (kind === "json") return copyText(JSON.stringify(value))
  if (kind === "boolean") return value === true ? "t" : "f"
  if (kind === "double") return typeof value === "number" ? (Number.isFinite(value) ? String(value) : Number.isNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity") : copyText(String(value))
  return copyText(String(value))
}

/** One event as the row `preview` shows: named by the table's columns, as PostgreSQL will hold it. */
export const rowObject = (plan: ColumnPlan, event: ExportEvent, fields?: SinkFields): Record<string, unknown> => {
  const row: EventRow = eventRow(event, fields)
  return Object.fromEntries(plan.columns.map(({ column, target }) => [target, row[column.name]]))
}

/** An event ready to COPY: its line of COPY text and that line's size in bytes. */
export interface CopyLine {
  readonly event: ExportEvent
  readonly line: string
  readonly bytes: number
}

/** One event as a line of COPY text, its columns in the plan's order (timestamps as core's ISO text, which timestamptz reads to the microsecond). */
export const copyLine = (plan: ColumnPlan, event: ExportEvent, fields?: SinkFields): CopyLine => {
  const row = eventRow(event, fields)
  const line = plan.columns.map(({ column }) => copyValue(column.kind, row[column.name])).join("\t") + "\n"
  return { event, line, bytes: Buffer.byteLength(line) }
}
