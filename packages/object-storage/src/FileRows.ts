import { EVENT_COLUMNS, type EventColumn, type EventRow, type ExportEvent, type SinkFields, eventRow } from "@featbit-export/core"

/**
 * The columns of a file: the table sinks' row without `env_id`, which the object's path holds (BigQuery's hive
 * partitioning refuses a file column that repeats a partition key). Same names and meanings as the tables.
 */
export const FILE_COLUMNS: ReadonlyArray<EventColumn> = EVENT_COLUMNS.filter((column) => column.name !== "env_id")

/** One event as a file's row, with the file's `map:` applied. */
export const fileRow = (event: ExportEvent, fields?: SinkFields): EventRow => eventRow(event, fields)
