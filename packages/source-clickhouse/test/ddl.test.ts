import { generateRows } from "@featbit-export/source-generate"
import { afterAll, describe, expect, it } from "vitest"
import { featbitEventsDdl, quoteIdentifier } from "../src/index.js"
import { closeEngine, engine, freshTable } from "./support/chdb.js"

afterAll(closeEngine)

const rowsOf = async (query: string, query_params: Record<string, unknown>) =>
  (await (await engine().query({ query, query_params, format: "JSONEachRow" })).json()) as Array<Record<string, unknown>>

describe("featbitEventsDdl and insertFeatBitRows", () => {
  it("creates FeatBit's events table: its columns, materialized tags, partitioning, ordering and sampling", async () => {
    const where = await freshTable([])
    const columns = await rowsOf(
      "SELECT name, type, default_kind, default_expression FROM system.columns WHERE database = {db:String} AND table = {t:String} ORDER BY position",
      { db: where.database, t: where.table }
    )
    // FeatBit's migration 0001 (modules/data-analytics/app/clickhouse/models/event/sql.py), column by column.
    const tags = Array.from({ length: 20 }, (_, n) => ({
      name: `tag_${n}`,
      type: "String",
      default_kind: "MATERIALIZED",
      default_expression: `JSONExtractString(properties, 'tag_${n}')`
    }))
    const plain = (name: string, type: string) => ({ name, type, default_kind: "", default_expression: "" })
    expect(columns).toEqual([
      plain("uuid", "UUID"),
      plain("distinct_id", "String"),
      plain("env_id", "String"),
      plain("event", "String"),
      plain("properties", "String"),
      plain("timestamp", "DateTime64(6, 'UTC')"),
      ...tags,
      plain("_timestamp", "DateTime"),
      plain("_offset", "UInt64")
    ])
    const [table] = await rowsOf(
      "SELECT engine, partition_key, sorting_key, sampling_key FROM system.tables WHERE database = {db:String} AND name = {t:String}",
      { db: where.database, t: where.table }
    )
    expect(table).toEqual({
      engine: "MergeTree",
      partition_key: "(env_id, toYYYYMM(timestamp))",
      sorting_key: "env_id, toDate(timestamp), event, cityHash64(distinct_id)",
      sampling_key: "cityHash64(distinct_id)"
    })
  })

  it("inserts rows as FeatBit's Kafka view would: values, microseconds, _timestamp, _offset, and the tags ClickHouse materializes", async () => {
    const rows = [...generateRows({ count: 250, seed: 41 })]
    const where = await freshTable(rows)
    const stored = await rowsOf(
      `SELECT toString(uuid) AS id, distinct_id, env_id, event, properties, toString(timestamp) AS ts, toUnixTimestamp(_timestamp) AS ingested, _offset, tag_0, tag_1 FROM ${quoteIdentifier(where.database)}.events ORDER BY _offset`,
      {}
    )
    expect(stored).toHaveLength(250)
    stored.forEach((row, i) => {
      const source = rows[i]!
      const properties = JSON.parse(source.properties as string) as Record<string, unknown>
      expect(row).toEqual({
        id: source.id,
        distinct_id: source.distinctId,
        env_id: source.envId,
        event: source.event,
        properties: source.properties,
        ts: source.timestamp.replace("T", " ").replace("Z", ""),
        ingested: Date.parse(source.ingestedAt!) / 1000,
        _offset: i,
        tag_0: properties["tag_0"],
        tag_1: properties["tag_1"]
      })
    })
  })

  it("quotes names so that any database or table name is one identifier", () => {
    expect(quoteIdentifier("a`b\\c")).toBe("`a\\`b\\\\c`")
    expect(featbitEventsDdl("featbit", "events").split("\n")[0]).toBe("CREATE TABLE IF NOT EXISTS `featbit`.`events`")
  })
})
