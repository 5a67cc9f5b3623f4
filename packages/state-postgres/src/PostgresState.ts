import { CheckpointError, CheckpointStore, DeadLetter, DeadLetterError, type PostgresStateSetting, Secrets } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import pg from "pg"
import { type StateContext, contextOf, describe } from "./Errors.js"
import { type LetterBox, letterBox } from "./LetterBox.js"
import { MIGRATIONS, SCHEMA_VERSION, type Tables, tablesIn } from "./Tables.js"

/** The shared state of several runners: the two stores the engine writes, and the dead letters as the CLI reads them. */
export interface PostgresState {
  readonly checkpoints: CheckpointStore.CheckpointStore["Type"]
  readonly deadLetters: DeadLetter.DeadLetterStore["Type"]
  /** A pipeline's dead letters, to count, show, export and replay (`featbit-export dead-letters`). */
  readonly letters: (pipeline: string) => LetterBox
  /** Who claimed each pipeline last, with which epoch, and its committed cursor: what any runner can say of the others'. */
  readonly claims: Effect.Effect<ReadonlyMap<string, Claim>, CheckpointError>
  /** Where the state is, for messages: `the state database (PostgreSQL at host:5432/db)`. */
  readonly where: string
  readonly tables: Tables
  readonly pool: pg.Pool
}

/** The last claim of a pipeline, as its checkpoint row has it. */
export interface Claim {
  readonly owner: string
  readonly epoch: number
  readonly cursor: CheckpointStore.Checkpoint["cursor"] | undefined
  readonly exported: number | undefined
  readonly committedAt: string | undefined
}

export interface StateOptions {
  /** Who claims pipelines through this store, as the checkpoint row and the audit record it. */
  readonly owner: string
  /** Removes secrets from what is stored (a source's state, dead letters), as the file stores do. */
  readonly scrubber?: Secrets.Scrubber
}

const decodeCheckpoint = Schema.decodeUnknownEither(CheckpointStore.Checkpoint)

/**
 * Opens the state database in the scope: a small pool (keepalives on, so a dead peer is noticed), the
 * tables created or migrated to this build's version under an advisory lock (so runners started together
 * migrate once), and the stores on it.
 */
export const openPostgresState = (setting: PostgresStateSetting, options: StateOptions): Effect.Effect<PostgresState, CheckpointError, Scope.Scope> =>
  Effect.gen(function* () {
    const url = Redacted.value(setting.url)
    const context = contextOf(url)
    const scrubber = options.scrubber ?? Secrets.none
    const tables = tablesIn(setting.schema)
    const pool = yield* Effect.acquireRelease(
      Effect.sync(() => new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 10_000, query_timeout: 30_000, keepAlive: true, application_name: "featbit-export" })),
      (p) => Effect.promise(() => p.end().catch(() => undefined))
    )
    // An idle client the server closes would otherwise be an unhandled 'error' event.
    pool.on("error", () => undefined)
    const query = <R extends pg.QueryResultRow>(doing: string, text: string, values: ReadonlyArray<unknown> = []) =>
      Effect.tryPromise({ try: () => pool.query<R>(text, values as Array<unknown>), catch: (error) => failure(error, context, doing) })
    yield* migrate(pool, tables, context)

    // The epoch this process claimed each pipeline at: its commits must still find it in the row.
    const epochs = new Map<string, string>()

    const fenced = (pipeline: string, epoch: string) =>
      query<{ epoch: string; owner: string }>("reading who owns the pipeline", `SELECT epoch::text, owner FROM ${tables.checkpoints} WHERE pipeline = $1`, [pipeline]).pipe(
        Effect.flatMap(({ rows }) => {
          const now = rows[0]
          const by = now === undefined ? "its checkpoint was reset" : `runner ${now.owner} claimed it (epoch ${now.epoch}; this runner's is ${epoch})`
          return Effect.fail(
            new CheckpointError({ fenced: true, message: `pipeline ${pipeline}: another runner took it over: ${by}; this runner stops it and writes nothing more for it` })
          )
        })
      )

    const decoded = (pipeline: string, value: unknown): Effect.Effect<Option.Option<CheckpointStore.Checkpoint>, CheckpointError> => {
      if (value === null || value === undefined) return Effect.succeed(Option.none())
      const result = decodeCheckpoint(value)
      return Either.isRight(result)
        ? Effect.succeed(Option.some(result.right))
        : Effect.fail(
            new CheckpointError({
              message: `the checkpoint of pipeline ${pipeline} in ${tables.checkpoints} is damaged; reset it with "featbit-export checkpoints <file> --reset --pipeline ${pipeline}" to export from the start`
            })
          )
    }

    const checkpoints: PostgresState["checkpoints"] = {
      load: (pipeline) =>
        query<{ checkpoint: unknown }>("reading a checkpoint", `SELECT checkpoint FROM ${tables.checkpoints} WHERE pipeline = $1`, [pipeline]).pipe(
          Effect.flatMap(({ rows }) => decoded(pipeline, rows[0]?.checkpoint))
        ),
      // Bumps the epoch and reads the cursor in one statement: no commit of an earlier claim can land after it.
      claim: (pipeline) =>
        query<{ epoch: string; checkpoint: unknown }>(
          "claiming the pipeline",
          `INSERT INTO ${tables.checkpoints} AS c (pipeline, epoch, owner, claimed_at) VALUES ($1, 1, $2, now())
           ON CONFLICT (pipeline) DO UPDATE SET epoch = c.epoch + 1, owner = EXCLUDED.owner, claimed_at = now()
           RETURNING epoch::text, checkpoint`,
          [pipeline, options.owner]
        ).pipe(
          Effect.tap(({ rows }) => Effect.sync(() => epochs.set(pipeline, rows[0]!.epoch))),
          Effect.flatMap(({ rows }) => decoded(pipeline, rows[0]!.checkpoint))
        ),
      save: (checkpoint) =>
        Effect.gen(function* () {
          const pipeline = checkpoint.pipeline
          const stored = JSON.stringify(CheckpointStore.scrubbed(checkpoint, scrubber))
          const epoch = epochs.get(pipeline)
          if (epoch === undefined) {
            // Not claimed here (a tool, not a run): no fence to keep, and the epoch stays what it is.
            yield* query(
              "saving a checkpoint",
              `INSERT INTO ${tables.checkpoints} AS c (pipeline, epoch, owner, checkpoint, claimed_at, committed_at) VALUES ($1, 0, $2, $3, now(), now())
               ON CONFLICT (pipeline) DO UPDATE SET checkpoint = EXCLUDED.checkpoint, committed_at = now()`,
              [pipeline, options.owner, stored]
            )
            return
          }
          const update = `UPDATE ${tables.checkpoints} SET checkpoint = $3, committed_at = now() WHERE pipeline = $1 AND epoch = $2::bigint RETURNING pipeline`
          const { rowCount } = setting.audit
            ? yield* query(
                "committing a checkpoint",
                `WITH updated AS (${update})
                 INSERT INTO ${tables.commits} (pipeline, epoch, owner, cursor_timestamp, cursor_id, exported) SELECT $1, $2::bigint, $4, $5, $6, $7 FROM updated`,
                [pipeline, epoch, stored, options.owner, checkpoint.cursor.timestamp, checkpoint.cursor.id, checkpoint.exported]
              )
            : yield* query("committing a checkpoint", update, [pipeline, epoch, stored])
          if (rowCount === 0) return yield* fenced(pipeline, epoch)
        }),
      // The row stays, its epoch bumped: a runner still holding the old epoch is fenced, and epochs never repeat.
      reset: (pipeline) =>
        query(
          "resetting a checkpoint",
          `UPDATE ${tables.checkpoints} SET checkpoint = NULL, committed_at = NULL, epoch = epoch + 1 WHERE pipeline = $1 AND checkpoint IS NOT NULL`,
          [pipeline]
        ).pipe(Effect.map(({ rowCount }) => (rowCount ?? 0) > 0))
    }

    const deadLetters: PostgresState["deadLetters"] = {
      append: (pipeline, letters) => {
        if (letters.length === 0) return Effect.void
        const epoch = epochs.get(pipeline)
        const columns = [
          letters.map((l) => l.at),
          letters.map((l) => l.stage),
          letters.map((l) => l.plugin),
          letters.map((l) => l.id ?? null),
          letters.map((l) => scrubber.scrub(l.reason)),
          letters.map((l) => DeadLetter.toLine(l, scrubber))
        ]
        const insert = `INSERT INTO ${tables.deadLetters} (pipeline, at, stage, plugin, event_id, reason, line)
          SELECT $1, at, stage, plugin, event_id, reason, line FROM unnest($2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
            AS l(at, stage, plugin, event_id, reason, line)`
        return Effect.tryPromise({
          try: () =>
            epoch === undefined
              ? pool.query(insert, [pipeline, ...columns])
              : pool.query(`${insert} WHERE EXISTS (SELECT 1 FROM ${tables.checkpoints} WHERE pipeline = $1 AND epoch = $8::bigint)`, [pipeline, ...columns, epoch]),
          catch: (error) => new DeadLetterError({ message: failure(error, context, "writing dead letters").message, cause: error })
        }).pipe(
          Effect.flatMap(({ rowCount }) =>
            rowCount === 0
              ? Effect.fail(new DeadLetterError({ fenced: true, message: `pipeline ${pipeline}: another runner took it over; this runner stops it and writes nothing more for it` }))
              : Effect.void
          )
        )
      }
    }

    const claims = query<{ pipeline: string; owner: string; epoch: string; cursor: CheckpointStore.Checkpoint["cursor"] | null; exported: string | null; committed_at: Date | null }>(
      "reading the pipelines' owners",
      `SELECT pipeline, owner, epoch::text, checkpoint->'cursor' AS cursor, checkpoint->>'exported' AS exported, committed_at FROM ${tables.checkpoints}`
    ).pipe(
      Effect.map(
        ({ rows }) =>
          new Map(
            rows.map((row) => [
              row.pipeline,
              {
                owner: row.owner,
                epoch: Number(row.epoch),
                cursor: row.cursor ?? undefined,
                exported: row.exported === null ? undefined : Number(row.exported),
                committedAt: row.committed_at?.toISOString()
              }
            ])
          )
      )
    )

    return { checkpoints, deadLetters, claims, letters: (pipeline) => letterBox(pool, tables, context, pipeline), where: context.where, tables, pool } satisfies PostgresState
  })

const failure = (error: unknown, context: StateContext, doing: string): CheckpointError => {
  const { message } = describe(error, context, doing)
  return new CheckpointError({ message, cause: error })
}

/**
 * Creates the schema's tables or brings them to this build's version, each version in one transaction, under
 * a transaction-level advisory lock: of runners started together, one migrates and the others find it done.
 */
const migrate = (pool: pg.Pool, tables: Tables, context: StateContext): Effect.Effect<void, CheckpointError> =>
  Effect.tryPromise({
    try: async () => {
      const client = await pool.connect()
      try {
        await client.query("BEGIN")
        await client.query("SELECT pg_advisory_xact_lock(hashtext('featbit_export_migrations'))")
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${tables.schema}`)
        await client.query(`CREATE TABLE IF NOT EXISTS ${tables.migrations} (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`)
        const { rows } = await client.query<{ version: number | null }>(`SELECT max(version) AS version FROM ${tables.migrations}`)
        const current = rows[0]?.version ?? 0
        if (current > SCHEMA_VERSION) {
          throw new Error(`its tables are at version ${current}, newer than this runner's ${SCHEMA_VERSION}: upgrade this runner`)
        }
        for (let version = current + 1; version <= SCHEMA_VERSION; version++) {
          for (const statement of MIGRATIONS[version - 1]!(tables)) await client.query(statement)
          await client.query(`INSERT INTO ${tables.migrations} (version) VALUES ($1)`, [version])
        }
        await client.query("COMMIT")
      } catch (error) {
        await client.query("ROLLBACK").catch(() => undefined)
        throw error
      } finally {
        client.release()
      }
    },
    catch: (error) => failure(error, context, "preparing its tables")
  })
