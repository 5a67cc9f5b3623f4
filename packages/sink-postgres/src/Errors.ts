import { Secrets, SinkError } from "@featbit-export/core"
import { isTransientPgError, sqlstateOf } from "@featbit-export/source-postgres"

export const PLUGIN = "postgres"

/** What a message needs to say what to fix, and what it must never contain. */
export interface Target {
  /** `host:port/database` (never with credentials). */
  readonly where: string
  readonly user: string
  readonly database: string
  /** `schema.table` as written in the file. */
  readonly table: string
  readonly secrets: ReadonlyArray<string>
}

/**
 * SQLSTATEs that one row's value causes (a text that is not a uuid, a NUL byte, a number out of range, a
 * null in a NOT NULL column, a CHECK): the row is refused, not the batch, and goes to the dead-letter file.
 */
const ROW_REFUSED_CLASSES = /^(22|23502|23514)/
export const isRowRefusal = (error: unknown): boolean => {
  const code = sqlstateOf(error)
  return code !== undefined && ROW_REFUSED_CLASSES.test(code)
}

/** The line of the COPY input the server refused (`COPY tmp, line 12, column id: "x"`), counting from 1. */
export const refusedCopyLine = (error: unknown): number | undefined => {
  const where = (error as { where?: unknown } | null)?.where
  const match = typeof where === "string" ? /^COPY [^,]+, line (\d+)/.exec(where) : null
  return match === null ? undefined : Number(match[1])
}

/**
 * Turns what pg threw into the sink's typed error: transient when the same batch may succeed later
 * (connection lost or refused, shutdown, serialization failure, deadlock, timeouts), fatal with one sentence
 * that says what to fix otherwise. The password never appears, in any encoding.
 */
export const classify = (error: unknown, target: Target, doing: string): SinkError => {
  if (error instanceof SinkError) return error
  const scrubber = Secrets.scrubberOf(target.secrets, { minLength: 1 })
  const raw = (error as { message?: unknown } | null)?.message
  const said = Secrets.excerpt(typeof raw === "string" && raw !== "" ? raw : String(error), scrubber)
  const at = `PostgreSQL at ${target.where}`
  const fatal = (text: string) => SinkError.fatal(PLUGIN, scrubber.scrub(text), error)
  if (isTransientPgError(error)) return SinkError.transient(PLUGIN, scrubber.scrub(`${at} failed while ${doing} (${said})`), { cause: error })
  const code = sqlstateOf(error)
  const state = code === undefined ? said : `SQLSTATE ${code}: ${said}`
  switch (code) {
    case "28P01":
    case "28000":
      return fatal(`${at} refused user "${target.user}" (${state}); fix the sink's user and password (or url), and check pg_hba.conf allows this client`)
    case "3D000":
      return fatal(`the database "${target.database}" does not exist on ${at} (${state}); create it or fix the sink's database (or the url's path)`)
    case "3F000":
      return fatal(`the schema of ${target.table} does not exist on ${at} (${state}); create it (CREATE SCHEMA) or fix the sink's schema`)
    case "42P01":
      return fatal(`the table ${target.table} does not exist on ${at} (${state}); set createTable: true, create it (see the README's DDL), or fix the sink's schema and table`)
    case "42501":
      return fatal(
        `user "${target.user}" may not write ${target.table} on ${at} (${state}); GRANT INSERT ON ${target.table} and TEMPORARY ON DATABASE ${target.database} (and CREATE ON SCHEMA with createTable) TO "${target.user}"`
      )
    case "42703":
      return fatal(`${target.table} lacks a column this sink writes (${state}); run \`featbit-export check\` and fix the table or the sink's columns`)
    case "42P10":
      return fatal(`${target.table} has no unique index on its id column, which exactly-once writing needs (${state}); add PRIMARY KEY or a UNIQUE index on it`)
    case "42804":
      return fatal(`a column of ${target.table} has a type this sink cannot write into (${state}); run \`featbit-export check\` to see which, and fix it or the sink's columns`)
    case "25006":
      return fatal(`${at} is read-only (a standby, or default_transaction_read_only) (${state}); point the sink at the primary`)
    case "53100":
      // Someone frees space and the same batch goes in: retried, saying why.
      return SinkError.transient(PLUGIN, scrubber.scrub(`${at} is out of disk space while ${doing} (${state}); free space on the server`), { cause: error })
    default:
      return fatal(`${at} failed while ${doing} (${state})`)
  }
}
