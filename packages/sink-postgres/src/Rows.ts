import { type ColumnPlan, type EventRow, type ExportEvent, type SinkFields, eventRow } from "@featbit-export/core"

const NEEDS_ESCAPE = /[\\\t\n\r]/
const ESCAPED = /[\\\t\n\r]/g
const escape = (c: string): string => (c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\r")

/** A value in COPY's text format: backslash, tab, newline and carriage return escaped. Most values have none: they are tested before they are rewritten. */
const copyText = (text: string): string => (NEEDS_ESCAPE.test(text) ? text.replace(ESCAPED, escape) : text)

const copyDouble = (value: unknown): string =>
  typeof value !== "number" ? copyText(String(value)) : Number.isFinite(value) ? String(value) : Number.isNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity"

/** JSON text holds no raw tab, newline or carriage return (JSON escapes them), only backslashes to double. */
const copyJson = (value: unknown): string => {
  const json = JSON.stringify(value)
  return json.includes("\\") ? json.replace(/\\/g, "\\\\") : json
}

/** Null as \N. */
const copyValue = (kind: string, value: unknown): string => {
  if (value === null || value === undefined) return "\\N"
  if (kind === "json") return copyJson(value)
  if (kind === "boolean") return value === true ? "t" : "f"
  if (kind === "double") return copyDouble(value)
  return copyText(typeof value === "string" ? value : String(value))
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
  const columns = plan.columns
  let line = copyValue(columns[0]!.column.kind, row[columns[0]!.column.name])
  for (let i = 1; i < columns.length; i++) line += "\t" + copyValue(columns[i]!.column.kind, row[columns[i]!.column.name])
  line += "\n"
  return { event, line, bytes: Buffer.byteLength(line) }
}
