import type { ClickHouseClient } from "@clickhouse/client"
import type { FeatBitRow } from "@featbit-export/core"

/**
 * Quotes a name as a ClickHouse identifier (backticks, with `\` and `` ` `` escaped). Only the DDL helpers
 * below use it: they build statements that ClickHouse cannot take as bound parameters on every version. The
 * source itself never puts a configured name into SQL text.
 */
export const quoteIdentifier = (name: string): string => "`" + name.replace(/\\/g, "\\\\").replace(/`/g, "\\`") + "`"

/** FeatBit's materialized tag columns: `tag_0` .. `tag_19`, each extracted from `properties`. */
export const TAG_COLUMNS = 20

/**
 * The `CREATE TABLE` of FeatBit Pro's `events` table (da-server migration 0001, see
 * `modules/data-analytics/app/clickhouse/models/event/sql.py`), for an embedded or single-node ClickHouse:
 * plain `MergeTree` in place of `ReplicatedMergeTree`, otherwise the same columns (the 20 `MATERIALIZED`
 * `tag_N` columns included), `PARTITION BY`, `ORDER BY` and `SAMPLE BY`.
 */
export const featbitEventsDdl = (database: string, table: string): string => {
  const tags = Array.from(
    { length: TAG_COLUMNS },
    (_, n) => `    tag_${n} VARCHAR MATERIALIZED JSONExtractString(properties, 'tag_${n}'),`
  ).join("\n")
  return [
    `CREATE TABLE IF NOT EXISTS ${quoteIdentifier(database)}.${quoteIdentifier(table)}`,
    "(",
    "    uuid UUID,",
    "    distinct_id VARCHAR,",
    "    env_id VARCHAR,",
    "    event VARCHAR,",
    "    properties VARCHAR,",
    "    timestamp DateTime64(6, 'UTC'),",
    tags,
    "    _timestamp DateTime,",
    "    _offset UInt64",
    ")",
    "ENGINE = MergeTree()",
    "PARTITION BY (env_id, toYYYYMM(timestamp))",
    "ORDER BY (env_id, toDate(timestamp), event, cityHash64(distinct_id))",
    "SAMPLE BY cityHash64(distinct_id)"
  ].join("\n")
}

/** Where FeatBit rows go. */
export interface EventsTable {
  /** Default `featbit`. */
  readonly database?: string | undefined
  /** Default `events`. */
  readonly table?: string | undefined
}

/** Creates the database (if missing) and FeatBit's `events` table in it (if missing). */
export const createFeatBitEventsTable = async (client: ClickHouseClient, where: EventsTable = {}): Promise<void> => {
  const database = where.database ?? "featbit"
  await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(database)}` })
  await client.command({ query: featbitEventsDdl(database, where.table ?? "events") })
}

/** One row of FeatBit's `events` table as `JSONEachRow` input. */
export interface EventsTableRow {
  readonly uuid: string
  readonly distinct_id: string
  readonly env_id: string
  readonly event: string
  readonly properties: string
  /** `YYYY-MM-DD hh:mm:ss.ffffff`, UTC (the column is `DateTime64(6, 'UTC')`). */
  readonly timestamp: string
  /** Seconds since the epoch: a number, so the server's time zone does not shift it. */
  readonly _timestamp: number
  readonly _offset: number
}

/** The `events` row FeatBit's Kafka pipeline would write for a core `FeatBitRow`. */
export const toEventsTableRow = (row: FeatBitRow, offset: number): EventsTableRow => {
  const ingested = row.ingestedAt ?? row.timestamp
  return {
    uuid: row.id,
    distinct_id: row.distinctId,
    env_id: row.envId,
    event: row.event,
    properties: typeof row.properties === "string" ? row.properties : JSON.stringify(row.properties),
    timestamp: row.timestamp.slice(0, 10) + " " + row.timestamp.slice(11, 26),
    _timestamp: Math.floor(Date.parse(ingested.slice(0, 23) + "Z") / 1000),
    _offset: offset
  }
}

export interface InsertOptions extends EventsTable {
  /** Rows per INSERT (default 10,000): bounds the memory an insert of a long generator holds. */
  readonly chunkSize?: number | undefined
  /** `_offset` of the first row; the following rows count up from it (default 0). */
  readonly firstOffset?: number | undefined
}

/**
 * Inserts core `FeatBitRow`s into a FeatBit `events` table through `@clickhouse/client` (`JSONEachRow`), as
 * FeatBit's Kafka materialized view would: `_timestamp` from `ingestedAt` (else the event time), `_offset`
 * counting up. Accepts any iterable, so a long generator is inserted chunk by chunk. Returns the row count.
 */
export const insertFeatBitRows = async (
  client: ClickHouseClient,
  rows: Iterable<FeatBitRow> | AsyncIterable<FeatBitRow>,
  options: InsertOptions = {}
): Promise<number> => {
  const table = `${quoteIdentifier(options.database ?? "featbit")}.${quoteIdentifier(options.table ?? "events")}`
  const chunkSize = options.chunkSize ?? 10_000
  let offset = options.firstOffset ?? 0
  let count = 0
  let chunk: Array<EventsTableRow> = []
  const flush = async () => {
    if (chunk.length === 0) return
    await client.insert({ table, values: chunk, format: "JSONEachRow" })
    count += chunk.length
    chunk = []
  }
  for await (const row of rows) {
    chunk.push(toEventsTableRow(row, offset++))
    if (chunk.length >= chunkSize) await flush()
  }
  await flush()
  return count
}
