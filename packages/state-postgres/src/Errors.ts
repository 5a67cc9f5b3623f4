import { Secrets } from "@featbit-export/core"

/** Where the state lives, for messages, and what they must never say. */
export interface StateContext {
  /** `PostgreSQL at host:port/database`, without credentials. */
  readonly where: string
  readonly secrets: ReadonlyArray<string>
}

export const contextOf = (url: string): StateContext => {
  let where = "the state database"
  const secrets = [url]
  try {
    const parsed = new URL(url)
    where = `the state database (PostgreSQL at ${parsed.hostname}:${parsed.port || "5432"}${parsed.pathname})`
    if (parsed.password !== "") secrets.push(parsed.password, decodeURIComponent(parsed.password))
  } catch {
    // not a url: pg will say so
  }
  return { where, secrets }
}

interface PgError {
  readonly code?: string
  readonly message?: string
  /** @effect/sql wraps the driver's error: "Failed to execute statement", the cause saying what. */
  readonly cause?: PgError
}

// SQLSTATE classes and socket codes after which the same statement may work again.
const PASSING = /^(08|40|53|57P0[1-3])|^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN)$/

/** What went wrong, in one sentence, scrubbed of the url's secrets; and whether trying again may work. */
export const describe = (error: unknown, context: StateContext, doing: string): { readonly message: string; readonly passing: boolean } => {
  const outer = (typeof error === "object" && error !== null ? error : { message: String(error) }) as PgError
  const e = outer.code === undefined && typeof outer.cause === "object" && outer.cause !== null ? { ...outer.cause, message: `${outer.message ?? ""}: ${outer.cause.message ?? ""}` } : outer
  const code = typeof e.code === "string" ? e.code : undefined
  const detail = Secrets.excerpt(typeof e.message === "string" && e.message !== "" ? e.message : String(error), Secrets.scrubberOf(context.secrets, { minLength: 1 }))
  const fix =
    code === "28P01" || code === "28000"
      ? "; fix the user and password of state.postgres.url"
      : code === "3D000"
        ? "; create the database, or fix the path of state.postgres.url"
        : code === "42501"
          ? "; grant the url's user CREATE on the schema (the tables are created on first use) and read and write on them"
          : ""
  const passing = code === undefined ? /timeout|terminat|Connection/i.test(detail) : PASSING.test(code)
  return { message: `${context.where}: ${doing} failed (${code === undefined ? "" : `${code}: `}${detail})${fix}`, passing }
}
