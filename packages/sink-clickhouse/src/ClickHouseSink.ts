import { type ExportEvent, type RefusedRowSearch, type Sink, chunkBySize, linesInTextPieces, writeSettingAsideRefused, untilSucceeded, columnRenameIssues, defineSink, EVENT_ROW_MAPPABLE, planColumns } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { Readable } from "node:stream"
import { checkSink } from "./Check.js"
import { openConnection } from "./Client.js"
import { ClickHouseSinkConfig } from "./Config.js"
import { PLUGIN, ROW_REFUSED, type Target, classify, exceptionCode } from "./Errors.js"
import { type EncodedRow, dedupToken, encodeRow, rowObject } from "./Rows.js"
import { createTableSql, quoteIdentifier } from "./Table.js"
import { urlIssues } from "./Url.js"


/** Inserts tried while finding the rows ClickHouse refuses in one insert, before the whole batch counts as refused. */
const MAX_BISECT_INSERTS = 48

/**
 * `type: clickhouse`: every event as one row of a ReplacingMergeTree keyed by its id, inserted as JSONEachRow
 * with an `insert_deduplication_token` digested from the insert's ids, so the server drops an insert it
 * already stored (a retry, or a page read again after a restart).
 */
export const ClickHouseSink = defineSink({
  type: PLUGIN,
  description:
    "ClickHouse (HTTP or embedded chDB): a ReplacingMergeTree keyed by id and partitioned by month, created on demand; JSONEachRow inserts bounded by bytes, each with an insert_deduplication_token from its ids",
  config: ClickHouseSinkConfig,
  configIssues: (config) => [...urlIssues(config), ...columnRenameIssues(config.columns)],
  mappable: EVENT_ROW_MAPPABLE,
  render: (config) => {
    const plan = planColumns(config.columns)
    return (event, fields) => rowObject(plan, event, fields)
  },
  make: (config, context) =>
    Effect.gen(function* () {
      const password = config.password === undefined ? "" : Redacted.value(config.password)
      const connection = yield* openConnection(config, password, context.baseDir)
      const target: Target = {
        where: connection.where,
        username: connection.kind === "chdb" ? "default" : config.username,
        table: `${config.database}.${config.table}`,
        secrets: password === "" ? [] : [password, `${config.username}:${password}`]
      }
      const plan = planColumns(config.columns)
      const qualified = `${quoteIdentifier(config.database)}.${quoteIdentifier(config.table)}`
      const insertSql = `INSERT INTO ${qualified} (${plan.columns.map((c) => quoteIdentifier(c.target)).join(", ")}) FORMAT JSONEachRow`

      // The table is created once, on the first write (check writes nothing); a failed attempt is tried again.
      const ensureTable = yield* untilSucceeded(
        config.createTable
          ? Effect.tryPromise({
              try: () => connection.client.command({ query: createTableSql(config, plan, config.dedupWindow) }),
              catch: (error) => classify(error, target, `creating ${target.table}`)
            })
          : Effect.void
      )

      /** One INSERT of these rows; the raw error on failure, so the caller can tell a refused row. */
      const insert = (rows: ReadonlyArray<EncodedRow>) =>
        Effect.tryPromise({
          try: async (signal) => {
            const result = await connection.client.exec({
              query: insertSql,
              values: Readable.from(linesInTextPieces(rows)),
              abort_signal: signal,
              clickhouse_settings: { insert_deduplicate: 1, insert_deduplication_token: dedupToken(rows), async_insert: 0 }
            })
            result.stream.resume()
            await new Promise<void>((resolve, reject) => {
              result.stream.on("end", resolve).on("close", resolve).on("error", reject)
            })
          },
          catch: (error) => error
        })

      /**
       * When ClickHouse refuses a row's data, the refused rows are found by inserting halves (each with its own
       * token) and reported for the dead-letter file; ClickHouse does not say which row it was.
       */
      const refusedRows: RefusedRowSearch<EncodedRow> = {
        write: insert,
        isRefusal: (error) => ROW_REFUSED.has(exceptionCode(error) ?? -1),
        locate: () => undefined,
        reason: (error, row) => classify(error, target, `inserting event ${row.event.id}`).message,
        failed: (error) => classify(error, target, `inserting into ${target.table}`),
        exhausted: (error) => classify(error, target, `inserting into ${target.table} (more rows refused than ${MAX_BISECT_INSERTS} inserts could find)`),
        maxWrites: MAX_BISECT_INSERTS
      }

      const write: Sink["write"] = (batch) =>
        Effect.gen(function* () {
          if (batch.events.length === 0) return { rejected: [] }
          yield* ensureTable
          const rows = batch.events.map((event: ExportEvent) => encodeRow(plan, event, batch.fields?.(event)))
          const chunks = chunkBySize(rows, (row) => row.bytes, config.maxBytes)
          const rejected = yield* Effect.forEach(chunks, (chunk) => writeSettingAsideRefused(refusedRows, chunk), { concurrency: 1 })
          return { rejected: rejected.flat() }
        })

      return {
        write,
        check: checkSink(connection, target, { database: config.database, table: config.table, plan, createTable: config.createTable }),
        maxInFlight: 4
      } satisfies Sink
    })
})
