import { DeadLetterError } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import type pg from "pg"
import { type StateContext, describe } from "./Errors.js"
import type { Tables } from "./Tables.js"

/**
 * One pipeline's dead letters in the state database, as the `dead-letters` command handles them: each
 * letter is the line `DeadLetter.toLine` wrote, in the order written. `replace` swaps the letters read for
 * what a replay leaves of them, in one transaction; letters a running pipeline appended since are kept.
 */
export interface LetterBox {
  /** Where they are, for messages: `featbit_export_dead_letters of the state database (...)`. */
  readonly where: string
  readonly read: Effect.Effect<ReadonlyArray<string>, DeadLetterError>
  /** Replaces the letters the last `read` returned with `lines`. */
  readonly replace: (lines: ReadonlyArray<string>) => Effect.Effect<void, DeadLetterError>
}

export const letterBox = (pool: pg.Pool, tables: Tables, context: StateContext, pipeline: string): LetterBox => {
  // The letters this box holds: those it read, then those it put back. A replace removes these and no
  // other, so a letter a running pipeline appended meanwhile is kept.
  let held: ReadonlyArray<string> = []
  const failed = (doing: string) => (error: unknown) => new DeadLetterError({ message: describe(error, context, doing).message, cause: error })
  return {
    where: `${tables.deadLetters} in ${context.where}`,
    read: Effect.tryPromise({
      try: () => pool.query<{ id: string; line: string }>(`SELECT id::text, line FROM ${tables.deadLetters} WHERE pipeline = $1 ORDER BY id`, [pipeline]),
      catch: failed("reading dead letters")
    }).pipe(
      Effect.map(({ rows }) => {
        held = rows.map((row) => row.id)
        return rows.map((row) => row.line)
      })
    ),
    replace: (lines) =>
      Effect.tryPromise({
        try: async () => {
          const client = await pool.connect()
          try {
            await client.query("BEGIN")
            await client.query(`DELETE FROM ${tables.deadLetters} WHERE pipeline = $1 AND id = ANY($2::bigint[])`, [pipeline, held])
            let kept: ReadonlyArray<string> = []
            if (lines.length > 0) {
              const letters = lines.map((line) => parsed(line))
              // Put back with new ids, in the order given: after any letter a run appended meanwhile.
              const inserted = await client.query<{ id: string }>(
                `INSERT INTO ${tables.deadLetters} (pipeline, at, stage, plugin, event_id, reason, line)
                 SELECT $1, at, stage, plugin, event_id, reason, line FROM unnest($2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
                   WITH ORDINALITY AS l(at, stage, plugin, event_id, reason, line, n) ORDER BY n
                 RETURNING id::text`,
                [
                  pipeline,
                  letters.map((l) => l.at),
                  letters.map((l) => l.stage),
                  letters.map((l) => l.plugin),
                  letters.map((l) => l.id),
                  letters.map((l) => l.reason),
                  lines
                ]
              )
              kept = inserted.rows.map((row) => row.id)
            }
            await client.query("COMMIT")
            held = kept
          } catch (error) {
            await client.query("ROLLBACK").catch(() => undefined)
            throw error
          } finally {
            client.release()
          }
        },
        catch: failed("replacing dead letters")
      })
  }
}

/** The columns of a stored line; a line that does not parse keeps its text, with what can be said of it. */
const parsed = (line: string): { at: string; stage: string; plugin: string; id: string | null; reason: string } => {
  try {
    const value = JSON.parse(line) as Record<string, unknown>
    const text = (key: string, fallback: string) => (typeof value[key] === "string" ? (value[key] as string) : fallback)
    return { at: text("at", new Date().toISOString()), stage: text("stage", "sink"), plugin: text("plugin", ""), id: typeof value["id"] === "string" ? value["id"] : null, reason: text("reason", "") }
  } catch {
    return { at: new Date().toISOString(), stage: "sink", plugin: "", id: null, reason: "unreadable line" }
  }
}
