import { type ExportEvent, type RefusedRowSearch, type RejectedEvent, type Sink, Secrets, untilSucceeded, linesInPieces, writeSettingAsideRefused, columnRenameIssues, defineSink, EVENT_ROW_MAPPABLE, planColumns } from "@featbit-export/core"
import { type ConnectionSettings, describeTarget, sqlstateOf, urlIssues } from "@featbit-export/source-postgres"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import { Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import type pg from "pg"
import { from as copyFrom } from "pg-copy-streams"
import { checkSink } from "./Check.js"
import { openPool } from "./Client.js"
import { copyChunks } from "./CopyChunks.js"
import { PostgresSinkConfig } from "./Config.js"
import { PLUGIN, type Target, classify, isRowRefusal, refusedCopyLine } from "./Errors.js"
import { type CopyLine, copyLine, rowObject } from "./Rows.js"
import { createTableSql, qualifiedName, quoteIdentifier } from "./Table.js"

/** Transactions tried while setting aside the rows PostgreSQL refuses in one chunk, before the chunk counts as refused. */
const MAX_REFUSAL_WRITES = 128

/** Each transaction's own staging table; ON COMMIT DROP, so a connection never carries one into the next batch. */
const STAGING = quoteIdentifier("featbit_export_staging")

/** Another writer created the table (or its index) at the same moment: it exists, which is what was wanted. */
const CREATED_CONCURRENTLY = new Set(["42P07", "23505"])

/**
 * `type: postgres`: each batch COPYs into a staging table and moves with one `INSERT ... ON CONFLICT (id)
 * DO NOTHING`, in one transaction, so a retried or replayed batch adds no row twice: exactly once in the table.
 */
export const PostgresSink = defineSink({
  type: PLUGIN,
  description:
    "PostgreSQL: a typed table (id uuid primary key, timestamptz, jsonb) created on demand or an existing one; COPY into a staging table and INSERT ... ON CONFLICT (id) DO NOTHING in one transaction, exactly once",
  config: PostgresSinkConfig,
  configIssues: (config) => [...urlIssues(config), ...columnRenameIssues(config.columns)],
  mappable: EVENT_ROW_MAPPABLE,
  render: (config) => {
    const plan = planColumns(config.columns)
    return (event, fields) => rowObject(plan, event, fields)
  },
  make: (config, context) =>
    Effect.gen(function* () {
      const settings: ConnectionSettings = {
        url: config.url === undefined ? undefined : Redacted.value(config.url),
        host: config.host,
        port: config.port,
        user: config.user,
        password: config.password === undefined ? undefined : Redacted.value(config.password),
        database: config.database,
        queryTimeoutMs: Duration.toMillis(config.queryTimeout),
        connectTimeoutMs: Duration.toMillis(config.connectTimeout),
        tls: config.tls
      }
      const described = describeTarget(settings)
      const target: Target = {
        where: described.target,
        user: described.user,
        database: described.database,
        table: `${config.schema}.${config.table}`,
        // The password, the url, and what the url holds (its password as written and decoded, ?password=).
        secrets: Secrets.collect(config).secrets.map((found) => found.value)
      }
      const pool = yield* openPool(settings, context.baseDir)
      const plan = planColumns(config.columns)
      const table = qualifiedName(config)
      const columns = plan.columns.map((c) => quoteIdentifier(c.target)).join(", ")
      const id = quoteIdentifier(plan.columns.find((c) => c.column.name === "id")!.target)
      const begin = `BEGIN; CREATE TEMP TABLE ${STAGING} ON COMMIT DROP AS SELECT ${columns} FROM ${table} WITH NO DATA`
      const copy = `COPY ${STAGING} (${columns}) FROM STDIN`
      const move = `INSERT INTO ${table} (${columns}) SELECT ${columns} FROM ${STAGING} ON CONFLICT (${id}) DO NOTHING; COMMIT`

      /** Runs `use` on a pooled connection; one that failed is closed, not reused (its transaction, or itself, is broken). */
      const withConnection = <A>(use: (client: pg.PoolClient) => Promise<A>) =>
        Effect.acquireUseRelease(
          Effect.tryPromise({ try: () => pool.connect(), catch: (error) => error }),
          (client) => Effect.tryPromise({ try: () => use(client), catch: (error) => error }),
          (client, exit) => Effect.sync(() => client.release(Exit.isSuccess(exit) ? undefined : true))
        )

      // The table is created once, on the first write (check writes nothing); a failed attempt is tried again.
      const ensureTable = yield* untilSucceeded(
        config.createTable
          ? withConnection(async (client) => {
              for (const statement of createTableSql(config, plan)) await client.query(statement)
            }).pipe(
              Effect.catchAll((error) => (CREATED_CONCURRENTLY.has(sqlstateOf(error) ?? "") ? Effect.void : Effect.fail(classify(error, target, `creating ${target.table}`))))
            )
          : Effect.void
      )

      /** One transaction: COPY this text into the staging table, then move what the table lacks. The raw error on failure. */
      const transaction = (text: Iterable<Buffer>) =>
        withConnection(async (client) => {
          await client.query(begin)
          await pipeline(Readable.from(text), client.query(copyFrom(copy)))
          await client.query(move)
        })

      const writeFailed = (error: unknown, events: number) => classify(error, target, `writing ${events} events into ${target.table}`)

      /**
       * When PostgreSQL refuses a row's value, that row is set aside for the dead-letter file and the rest written
       * again: COPY names the refused line; other refusals (a CHECK, a NOT NULL of the table) are found by halves.
       */
      const refusedRows: RefusedRowSearch<CopyLine> = {
        write: (lines) => transaction(linesInPieces(lines)),
        isRefusal: isRowRefusal,
        locate: (error) => {
          const line = refusedCopyLine(error)
          return line === undefined ? undefined : line - 1
        },
        reason: (error, line) => classify(error, target, `writing event ${line.event.id}`).message,
        failed: (error, lines) => writeFailed(error, lines.length),
        exhausted: (error) => classify(error, target, `writing into ${target.table} (more rows refused than ${MAX_REFUSAL_WRITES} transactions could set aside)`),
        maxWrites: MAX_REFUSAL_WRITES
      }

      const write: Sink["write"] = (batch) =>
        Effect.gen(function* () {
          if (batch.events.length === 0) return { rejected: [] }
          yield* ensureTable
          const encode = (event: ExportEvent) => copyLine(plan, event, batch.fields?.(event))
          const rejected: Array<RejectedEvent> = []
          for (const chunk of copyChunks(batch.events, encode, config.maxBytes)) {
            const streamed = yield* Effect.either(transaction(chunk.text))
            if (Either.isLeft(streamed)) {
              // Only a refused row is searched for among the chunk's lines, encoded again; any other failure (the
              // connection, the table) fails the batch as it stands, without encoding the chunk a second time (the
              // message counts the batch's events: where a chunk read part way ends is known only by encoding it).
              if (!isRowRefusal(streamed.left)) return yield* Effect.fail(writeFailed(streamed.left, batch.events.length))
              rejected.push(...(yield* writeSettingAsideRefused(refusedRows, chunk.lines(), { error: streamed.left })))
            }
          }
          return { rejected }
        })

      return {
        write,
        check: checkSink(pool, target, { schema: config.schema, table: config.table, plan, createTable: config.createTable }),
        maxInFlight: 4
      } satisfies Sink
    })
})
