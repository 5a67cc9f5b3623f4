import * as Schema from "effect/Schema"
import { type ExportEvent, isFlagValue, isMetric } from "./Event.js"
import type { MappableField, SinkFields } from "./Transform.js"

/**
 * The flat, typed row a table sink writes for one event (PostgreSQL, ClickHouse, Parquet): one column per
 * field of the canonical event, snake_case, the same in every destination so that one query works in each.
 * A column a kind of event lacks (a metric's flag key, an evaluation's numeric value) is null.
 */

/** What a column holds; each sink maps it to its own type (`uuid`, `DateTime64(6, 'UTC')`, `jsonb`, ...). */
export type ColumnKind = "uuid" | "text" | "timestamp" | "boolean" | "double" | "json"

export interface EventColumn {
  readonly name: ColumnName
  readonly kind: ColumnKind
  /** False for the columns every event has. */
  readonly nullable: boolean
  readonly description: string
}

/** A row's value per column: strings (timestamps as `Timestamp` text), numbers, booleans, objects for json; null when absent. */
export type EventRow = Readonly<Record<ColumnName, unknown>>

export const COLUMN_NAMES = [
  "id",
  "env_id",
  "event",
  "timestamp",
  "ingested_at",
  "distinct_id",
  "user_key",
  "user_name",
  "flag_id",
  "flag_key",
  "flag_name",
  "variation_id",
  "variation_name",
  "variation_value",
  "send_to_experiment",
  "event_name",
  "numeric_value",
  "application_type",
  "route",
  "account_id",
  "project_id",
  "tags",
  "properties"
] as const
export type ColumnName = (typeof COLUMN_NAMES)[number]

const column = (name: ColumnName, kind: ColumnKind, nullable: boolean, description: string): EventColumn => ({ name, kind, nullable, description })

/** Every column, in table order. */
export const EVENT_COLUMNS: ReadonlyArray<EventColumn> = [
  column("id", "uuid", false, "FeatBit's event uuid: the primary key, so a batch written twice adds nothing"),
  column("env_id", "text", false, "The FeatBit environment"),
  column("event", "text", false, "FlagValue, CustomEvent, PageView or Click"),
  column("timestamp", "timestamp", false, "When the SDK saw the event, UTC, microseconds kept"),
  column("ingested_at", "timestamp", true, "When FeatBit's store received it, when the source knows"),
  column("distinct_id", "text", false, "FeatBit's distinct id"),
  column("user_key", "text", false, "The end user's key"),
  column("user_name", "text", false, "The end user's name"),
  column("flag_id", "text", true, "The flag's id (evaluations)"),
  column("flag_key", "text", true, "The flag's key (evaluations)"),
  column("flag_name", "text", true, "The flag's name (evaluations, with enrich:)"),
  column("variation_id", "text", true, "The variation served (evaluations)"),
  column("variation_name", "text", true, "The variation's name (evaluations, with enrich:)"),
  column("variation_value", "json", true, "The variation's typed value (evaluations, with enrich:)"),
  column("send_to_experiment", "boolean", true, "Whether the evaluation counts for an experiment (evaluations)"),
  column("event_name", "text", true, "The metric's name (metrics)"),
  column("numeric_value", "double", true, "The metric's value (metrics)"),
  column("application_type", "text", true, "The SDK's application type (metrics)"),
  column("route", "text", false, "The page route FeatBit recorded"),
  column("account_id", "text", false, "The FeatBit account"),
  column("project_id", "text", false, "The FeatBit project"),
  column("tags", "json", false, "The raw tag_N values, as an object"),
  column("properties", "json", false, "Every property FeatBit stored, as an object")
]

/** The parts of a row a pipeline file may compute (`sink.map`), each replacing the sink's own. */
export const EVENT_ROW_MAPPABLE = {
  distinct_id: { type: "string", description: "The distinct_id column, instead of FeatBit's distinct id" },
  user_key: { type: "string", description: "The user_key column, instead of the FeatBit user key" },
  event_name: { type: "string", description: "The event_name column (for evaluations too, which have none of their own)" },
  properties: { type: "map", description: "The properties column, instead of every property FeatBit stored" },
  tags: { type: "map", description: "The tags column, instead of the raw tag_N values" }
} as const satisfies Readonly<Record<string, MappableField>>

const isPlainObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * One event as a row, with the fields the file's `map:` computed for it. The transform step has checked each
 * mapped value's type already; one of the wrong type (from a caller that skipped it) counts as not mapped.
 */
export const eventRow = (event: ExportEvent, fields?: SinkFields): EventRow => {
  const flag = isFlagValue(event) ? event : undefined
  const metric = isMetric(event) ? event : undefined
  const mappedText = (name: string): string | undefined => {
    const value = fields?.[name]
    return typeof value === "string" ? value : undefined
  }
  const mappedObject = (name: string): Record<string, unknown> | undefined => {
    const value = fields?.[name]
    return isPlainObject(value) ? value : undefined
  }
  return {
    id: event.id,
    env_id: event.envId,
    event: event.event,
    timestamp: event.timestamp,
    ingested_at: event.ingestedAt ?? null,
    distinct_id: mappedText("distinct_id") ?? event.distinctId,
    user_key: mappedText("user_key") ?? event.user.keyId,
    user_name: event.user.name,
    flag_id: flag?.flagId ?? null,
    flag_key: flag?.flagKey ?? null,
    flag_name: flag?.flagName ?? null,
    variation_id: flag?.variationId ?? null,
    variation_name: flag?.variationName ?? null,
    variation_value: flag?.variationValue ?? null,
    send_to_experiment: flag?.sendToExperiment ?? null,
    event_name: mappedText("event_name") ?? metric?.eventName ?? null,
    numeric_value: metric?.numericValue ?? null,
    application_type: metric?.applicationType ?? null,
    route: event.route,
    account_id: event.accountId,
    project_id: event.projectId,
    tags: mappedObject("tags") ?? event.tags,
    properties: mappedObject("properties") ?? event.properties
  }
}

/**
 * The column names a sink writes, after the file's `columns:` renames (canonical name to the table's) and
 * leaves out (`false`). `id` and `timestamp` cannot be left out: they are the key and the order.
 */
export interface ColumnPlan {
  readonly columns: ReadonlyArray<{ readonly column: EventColumn; readonly target: string }>
}

/** Undefined counts as "not renamed": Schema.optional decodes an absent key that way. */
export type ColumnRenames = Readonly<Partial<Record<ColumnName, string | false | undefined>>>

const ColumnTarget = Schema.Union(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(63)), Schema.Literal(false))

/** The `columns:` key of a table sink: for an existing table, what each column is called there, or false to leave it out. */
export const ColumnRenamesSetting = Schema.Struct(
  Object.fromEntries(COLUMN_NAMES.map((name) => [name, Schema.optional(ColumnTarget)])) as { [K in ColumnName]: Schema.optional<typeof ColumnTarget> }
).annotations({
  description:
    "For an existing table: the table's name for a column (e.g. id: event_id), or false to leave a column out (not id or timestamp); the others keep their names"
})

export const planColumns = (renames: ColumnRenames | undefined): ColumnPlan => ({
  columns: EVENT_COLUMNS.flatMap((column) => {
    const target = renames?.[column.name]
    if (target === false) return []
    return [{ column, target: target ?? column.name }]
  })
})

/** Mistakes in `columns:` a schema cannot express, relative to the sink's block. */
export const columnRenameIssues = (renames: ColumnRenames | undefined): ReadonlyArray<{ path: ReadonlyArray<string | number>; message: string }> => {
  if (renames === undefined) return []
  const issues: Array<{ path: ReadonlyArray<string | number>; message: string }> = []
  for (const key of ["id", "timestamp"] as const) {
    if (renames[key] === false) issues.push({ path: ["columns", key], message: `${key} cannot be left out: it is the table's key and order; rename it instead` })
  }
  const seen = new Map<string, string>()
  for (const { column, target } of planColumns(renames).columns) {
    const other = seen.get(target)
    if (other !== undefined) issues.push({ path: ["columns", column.name], message: `${column.name} and ${other} both write the column "${target}"; give each its own` })
    seen.set(target, column.name)
  }
  return issues
}
