import type { SourceError } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import type { Transport } from "./Client.js"
import { type ErrorContext, IncompleteResponse, classify, serverException } from "./Errors.js"

/** Query parameters, bound by the server (`param_<name>` on the URL): never spliced into SQL text. */
export type QueryParams = Readonly<Record<string, string | number | ReadonlyArray<string> | ReadonlyArray<number>>>

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value)

/** The exception ClickHouse appended to a response it had started, if the text ends with one. */
const exceptionIn = (text: string): string | undefined => {
  const tail = text.slice(-4000)
  const at = tail.lastIndexOf("Code: ")
  const found = at < 0 ? undefined : serverException(tail.slice(at))
  return found === undefined ? undefined : `ClickHouse reported ${found.type ?? `code ${found.code}`} after the rows had started: ${found.text}`
}

/**
 * The rows of a `JSONCompact` response. The whole document must parse and its `rows` count must match: a
 * body cut short, or one with an exception appended after HTTP 200 (how servers before 25.11 report a
 * failure that happens mid-query), is an `IncompleteResponse`, never a short page.
 */
export const parseCompact = (text: string): ReadonlyArray<ReadonlyArray<unknown>> => {
  let document: unknown
  try {
    document = JSON.parse(text)
  } catch (error) {
    throw new IncompleteResponse(exceptionIn(text) ?? `the body does not parse as JSON (${(error as Error).message}): the response was cut short`)
  }
  if (!isObject(document) || !Array.isArray(document["data"])) {
    throw new IncompleteResponse("the body is JSON but has no data array")
  }
  if (typeof document["exception"] === "string") {
    throw new IncompleteResponse(exceptionIn(document["exception"]) ?? `ClickHouse reported an error after the rows had started: ${document["exception"]}`)
  }
  const data = document["data"] as Array<unknown>
  const rows = document["rows"]
  if (rows !== undefined && Number(rows) !== data.length) {
    throw new IncompleteResponse(`the body announces ${String(rows)} rows but holds ${data.length}`)
  }
  for (const row of data) {
    if (!Array.isArray(row)) throw new IncompleteResponse("a row of the body is not an array")
  }
  return data as ReadonlyArray<ReadonlyArray<unknown>>
}

/** Runs queries for the source, turning every failure into a classified `SourceError`. */
export interface Session {
  readonly transport: Transport
  readonly context: ErrorContext
  /**
   * Runs `sql` (which must not end in a FORMAT clause) and returns its rows as arrays of values, in column
   * order. Without `params` no `param_` reaches the server, so it also works on servers that have none.
   */
  readonly rows: (sql: string, params: QueryParams | undefined, doing: string) => Effect.Effect<ReadonlyArray<ReadonlyArray<unknown>>, SourceError>
}

export const makeSession = (transport: Transport, context: ErrorContext): Session => ({
  transport,
  context,
  rows: (sql, params, doing) =>
    Effect.tryPromise({
      try: async (signal) => {
        const result = await transport.client.query({
          query: sql,
          format: "JSONCompact",
          ...(params === undefined ? {} : { query_params: params as Record<string, unknown> }),
          abort_signal: signal
        })
        return parseCompact(await result.text())
      },
      catch: (error) => classify(error, context, doing)
    })
})
