/** The `type: clickhouse` sink plugin. */
export { ClickHouseSink } from "./ClickHouseSink.js"
/** Its configuration keys. */
export { ClickHouseSinkConfig, DEFAULT_DEDUP_WINDOW } from "./Config.js"
/** The table it creates, and the types it accepts in an existing one. */
export { type TableName, columnType, createTableSql, quoteIdentifier, typeProblem } from "./Table.js"
/** What an event becomes (the JSONEachRow object) and the token of an insert. */
export { dedupToken, encodeRow, rowObject } from "./Rows.js"
/** Its error mapping. */
export { type Target, classify } from "./Errors.js"
