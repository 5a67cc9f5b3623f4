/** The `type: postgres` sink plugin. */
export { PostgresSink } from "./PostgresSink.js"
/** Its configuration keys. */
export { DEFAULT_MAX_BYTES, PostgresSinkConfig } from "./Config.js"
/** The table it creates, and the types it accepts in an existing one. */
export { type TableName, columnType, createTableSql, qualifiedName, quoteIdentifier, typeProblem } from "./Table.js"
/** What an event becomes: the row `preview` shows, the line of COPY text. */
export { type CopyLine, copyLine, rowObject } from "./Rows.js"
/** Its error mapping. */
export { type Target, classify, isRowRefusal, refusedCopyLine } from "./Errors.js"
