import { type ColumnKind, type ColumnPlan, type EventColumn } from "@featbit-export/core"
import pg from "pg"

/** `name` as a PostgreSQL identifier (pg's escapeIdentifier), never interpolated raw. */
export const quoteIdentifier = (name: string): string => pg.escapeIdentifier(name)

export interface TableName {
  readonly schema: string
  readonly table: string
}

/** `"schema"."table"`. */
export const qualifiedName = (name: TableName): string => `${quoteIdentifier(name.schema)}.${quoteIdentifier(name.table)}`

const TYPES: Record<ColumnKind, string> = {
  uuid: "uuid",
  text: "text",
  // timestamptz keeps microseconds, FeatBit's own precision.
  timestamp: "timestamptz",
  boolean: "boolean",
  double: "double precision",
  json: "jsonb"
}

/** The PostgreSQL type a created table gives a column. */
export const columnType = (column: EventColumn): string => TYPES[column.kind]

/** The types (`format_type`) an existing table may have for a column kind: what COPY's text form casts into losslessly. */
const ACCEPTED: Record<ColumnKind, (type: string) => boolean> = {
  uuid: (t) => t === "uuid" || t === "text" || /^character varying(\((3[6-9]|[4-9]\d|\d{3,})\))?$/.test(t),
  text: (t) => t === "text" || t === "citext" || /^character varying(\(\d+\))?$/.test(t),
  timestamp: (t) => t === "timestamp with time zone" || t === "timestamp(6) with time zone",
  boolean: (t) => t === "boolean",
  double: (t) => t === "double precision" || t === "numeric" || t.startsWith("numeric("),
  json: (t) => t === "jsonb" || t === "json" || t === "text"
}

/** What is wrong with an existing column's type for what this sink writes into it, or undefined. */
export const typeProblem = (column: EventColumn, target: string, type: string): string | undefined => {
  if (ACCEPTED[column.kind](type)) return undefined
  const alter = `ALTER TABLE ... ALTER COLUMN ${quoteIdentifier(target)} TYPE ${columnType(column)}`
  if (column.kind === "timestamp" && type.startsWith("timestamp")) {
    return `column ${target} is ${type}, not timestamptz: FeatBit's UTC microseconds would be lost or read in the session's time zone; ${alter}`
  }
  return `column ${target} is ${type}, not ${columnType(column)}; ${alter}, or map it elsewhere with columns.${column.name}`
}

/**
 * The table this sink creates: `id uuid primary key` (so a batch written twice adds nothing), typed columns,
 * jsonb for tags and properties, and a BRIN index on the timestamp (tiny, cheap to keep up on rows that
 * arrive roughly in time order, and what time-range queries need).
 */
export const createTableSql = (name: TableName, plan: ColumnPlan): ReadonlyArray<string> => {
  const timestamp = plan.columns.find((c) => c.column.name === "timestamp")!.target
  const lines = plan.columns.map(
    ({ column, target }) => `  ${quoteIdentifier(target)} ${columnType(column)}${column.name === "id" ? " PRIMARY KEY" : column.nullable ? "" : " NOT NULL"}`
  )
  const table = qualifiedName(name)
  const comments = plan.columns.map(({ column, target }) => `COMMENT ON COLUMN ${table}.${quoteIdentifier(target)} IS ${pg.escapeLiteral(column.description)}`)
  return [
    `CREATE TABLE IF NOT EXISTS ${table} (\n${lines.join(",\n")}\n)`,
    `CREATE INDEX IF NOT EXISTS ${quoteIdentifier(`${name.table}_${timestamp}_brin`.slice(0, 63))} ON ${table} USING brin (${quoteIdentifier(timestamp)})`,
    ...comments
  ]
}
