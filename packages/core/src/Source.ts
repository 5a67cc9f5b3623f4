import * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
import type { Cursor } from "./Cursor.js"
import { SourceError } from "./Errors.js"
import type { ExportEvent } from "./Event.js"
import type { Rejection } from "./FeatBitRow.js"
import type { Timestamp } from "./Timestamp.js"

/**
 * One page read from a store: its events in cursor order, the rows that could not be decoded, and the
 * cursor after its last row. Committing `cursor` means every row of the page was delivered or
 * dead-lettered.
 */
export interface SourcePage {
  readonly events: ReadonlyArray<ExportEvent>
  readonly rejected: ReadonlyArray<Rejection>
  readonly cursor: Cursor
}

export interface ReadOptions {
  /** Rows per page, unless the source's own configuration says otherwise. */
  readonly pageSize: number
}

/**
 * Reads FeatBit events after a cursor. `read` returns a finite stream that ends when the source has caught
 * up; the engine decides when to read again (follow mode). Pages come in cursor order, and reading again
 * from any page's cursor yields exactly the rows after it.
 */
export interface Source {
  readonly read: (from: Cursor | undefined, options: ReadOptions) => Stream.Stream<SourcePage, SourceError>
  /**
   * Connects and confirms the source can be read (credentials, table, columns). Returns the facts it
   * confirmed, one sentence each; fails with a sentence that says what to fix.
   */
  readonly check?: Effect.Effect<ReadonlyArray<string>, SourceError>
}

/**
 * Refuses a backfill window that selects nothing (`endAt` at or before `startAt`): a fatal error saying so,
 * rather than a run that exports nothing and looks successful.
 */
export const checkWindow = (
  plugin: string,
  window: { readonly startAt?: Timestamp | undefined; readonly endAt?: Timestamp | undefined }
): Effect.Effect<void, SourceError> =>
  window.startAt !== undefined && window.endAt !== undefined && window.endAt <= window.startAt
    ? Effect.fail(SourceError.fatal(plugin, `endAt (${window.endAt}) must be after startAt (${window.startAt}); fix the window`))
    : Effect.void
