import type { SourceError } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import { type Collection, type Db, type Document, MongoClient, type MongoClientOptions } from "mongodb"
import { type ErrorContext, classify } from "./Errors.js"

/** The database and collection of the client in use. */
export interface Store {
  readonly db: Db
  readonly collection: Collection<Document>
}

/** Runs driver calls against the current client, and says what went wrong in the source's words. */
export interface Session {
  readonly context: ErrorContext
  /**
   * Runs `f` on the current client. After a failure that may be passing (a network error, a server that is
   * down), that client is closed and the next call opens a fresh one: a MongoClient whose first connection
   * failed stays closed ("Topology is closed") even once the server is back.
   */
  readonly attempt: <A>(doing: string, f: (store: Store) => Promise<A>) => Effect.Effect<A, SourceError>
}

/**
 * Opens the session in the scope (the url is checked at once, so a malformed one fails the pipeline before
 * it starts) and closes whichever client is open when the scope closes.
 */
export const openSession = (url: string, options: MongoClientOptions, database: string, collection: string, context: ErrorContext) =>
  Effect.gen(function* () {
    let client: MongoClient | undefined
    const open = (): MongoClient => (client ??= new MongoClient(url, options))
    const discard = () => {
      const closing = client
      client = undefined
      void closing?.close().catch(() => undefined)
    }
    yield* Effect.acquireRelease(
      Effect.try({ try: open, catch: (error) => classify(error, context, "reading the url") }),
      () => Effect.promise(() => (client === undefined ? Promise.resolve() : client.close().catch(() => undefined)))
    )
    const attempt = <A>(doing: string, f: (store: Store) => Promise<A>): Effect.Effect<A, SourceError> =>
      Effect.suspend(() => {
        const current = open()
        const db = current.db(database)
        return Effect.tryPromise({ try: () => f({ db, collection: db.collection(collection) }), catch: (error) => classify(error, context, doing) }).pipe(
          Effect.tapError((error) => Effect.sync(() => error.retryable && client === current && discard()))
        )
      })
    return { context, attempt } satisfies Session
  })
