import { type ColumnKind, type ColumnPlan, type EventColumn } from "@featbit-export/core"

/** `name` as a ClickHouse identifier. */
export const quoteIdentifier = (name: string): string => "`" + name.replace(/\\/g, "\\\\").replace(/`/g, "\\`") + "`"

/** Columns whose values repeat across rows (environments, flags, names): dictionary-encoded. */
const LOW_CARDINALITY = new Set(["env_id", "event", "flag_id", "flag_key", "flag_name", "variation_id", "variation_name", "event_name", "application_type", "account_id", "project_id", "route"])

const BASE: Record<ColumnKind, string> = {
  uuid: "UUID",
  text: "String",
  timestamp: "DateTime64(6, 'UTC')",
  boolean: "Bool",
  double: "Float64",
  json: "String"
}

/** The ClickHouse type a created table gives a column. */
export const columnType = (column: EventColumn): string => {
  const base = BASE[column.kind]
  const nullable = column.nullable ? `Nullable(${base})` : base
  return column.kind === "text" && LOW_CARDINALITY.has(column.name) ? `LowCardinality(${nullable})` : nullable
}

/** The types an existing table may have for a column kind (after Nullable and LowCardinality are taken off). */
const ACCEPTED: Record<ColumnKind, (base: string) => boolean> = {
  uuid: (t) => t === "UUID" || t === "String",
  text: (t) => t === "String" || t.startsWith("FixedString("),
  timestamp: (t) => /^DateTime64\(6(, ?'UTC')?\)$/.test(t),
  boolean: (t) => t === "Bool" || t === "UInt8",
  double: (t) => t === "Float64" || t === "Float32",
  json: (t) => t === "String"
}

const unwrap = (type: string): { base: string; nullable: boolean } => {
  let t = type.trim()
  let nullable = false
  for (;;) {
    const m = /^(LowCardinality|Nullable)\((.*)\)$/.exec(t)
    if (m === null) return { base: t, nullable }
    if (m[1] === "Nullable") nullable = true
    t = m[2]!
  }
}

/** What is wrong with an existing column's type for what this sink writes into it, or undefined. */
export const typeProblem = (column: EventColumn, target: string, type: string): string | undefined => {
  const { base } = unwrap(type)
  if (ACCEPTED[column.kind](base)) return undefined
  if (column.kind === "timestamp" && /^DateTime/.test(base)) {
    return `column ${target} is ${type}, not DateTime64(6, 'UTC'): FeatBit's microseconds would be lost or refused; ALTER TABLE ... MODIFY COLUMN ${quoteIdentifier(target)} ${columnType(column)}`
  }
  return `column ${target} is ${type}, not ${columnType(column)}; ALTER TABLE ... MODIFY COLUMN ${quoteIdentifier(target)} ${columnType(column)}, or map it elsewhere with columns.${column.name}`
}

export interface TableName {
  readonly database: string
  readonly table: string
}

/**
 * The table this sink creates: a ReplacingMergeTree sorted by (env_id, event, timestamp, id), so a row written
 * twice (same id, hence the same environment, kind and time) collapses at merge time, partitioned by month,
 * with a non-replicated deduplication window so that a retried insert (same token) is dropped at once.
 */
export const createTableSql = (name: TableName, plan: ColumnPlan, dedupWindow: number): string => {
  const target = (canonical: string) => plan.columns.find((c) => c.column.name === canonical)?.target ?? canonical
  const [env, event, timestamp, id] = ["env_id", "event", "timestamp", "id"].map((c) => quoteIdentifier(target(c)))
  const hasEnvAndEvent = plan.columns.some((c) => c.column.name === "env_id") && plan.columns.some((c) => c.column.name === "event")
  const key = hasEnvAndEvent ? `${env}, ${event}, ${timestamp}` : timestamp
  const lines = plan.columns.map(({ column, target }) => `  ${quoteIdentifier(target)} ${columnType(column)} COMMENT '${column.description.replace(/'/g, "\\'")}'`)
  return [
    `CREATE TABLE IF NOT EXISTS ${quoteIdentifier(name.database)}.${quoteIdentifier(name.table)}`,
    "(",
    lines.join(",\n"),
    ")",
    "ENGINE = ReplacingMergeTree",
    `PARTITION BY toYYYYMM(${timestamp})`,
    `PRIMARY KEY (${key})`,
    `ORDER BY (${key}, ${id})`,
    `SETTINGS non_replicated_deduplication_window = ${dedupWindow}`
  ].join("\n")
}
