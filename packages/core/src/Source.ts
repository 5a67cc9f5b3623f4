import * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
import type { Cursor } from "./Cursor.js"
import { SourceError } from "./Errors.js"
import type { ExportEvent } from "./Event.js"
import type { Rejection } from "./FeatBitRow.js"
import type { Selection } from "./Selection.js"
import { type SourceFilterConfig, sourceFilterIssues } from "./SourceFilters.js"
import type { Timestamp } from "./Timestamp.js"

/**
 * One page read from a store: its events, the rows that could not be decoded, and the cursor after its last
 * row. Committing `cursor` (with `state`) means every row of the page was delivered or dead-lettered.
 *
 * Most pages hold rows after the previous cursor, in cursor order. A source that looks for late rows (rows
 * that landed behind the cursor after it passed them) delivers them in pages of their own whose cursor does
 * not move; `late` counts the rows among them that had never been delivered.
 */
export interface SourcePage {
  readonly events: ReadonlyArray<ExportEvent>
  readonly rejected: ReadonlyArray<Rejection>
  readonly cursor: Cursor
  /**
   * The source's own bookkeeping after this page (plain JSON), committed with the cursor and handed back to
   * the next read (`ReadOptions.state`). Database sources keep their late-row counts here.
   */
  readonly state?: unknown
  /** Rows of this page that landed behind the cursor and had not been delivered before. */
  readonly late?: number
  /** Rows found to have landed too far behind the cursor to be exported (reported, not delivered). */
  readonly missed?: number
}

/** Where a pass stands, told to the engine when the pass starts (for progress and `seconds behind`). */
export interface PassInfo {
  /** The store's own clock when the pass started. */
  readonly storeTime: Timestamp
  /** Rows at or before it are read by this pass: the store's clock minus `lag`, or `endAt`. */
  readonly horizon: Timestamp
}

export interface ReadOptions {
  /** Rows per page, unless the source's own configuration says otherwise. */
  readonly pageSize: number
  /** The `state` of the page the cursor came from (undefined for a first read, or a source without state). */
  readonly state?: unknown
  /** Called when a pass has read the store's clock. */
  readonly onPass?: ((info: PassInfo) => void) | undefined
}

/**
 * Reads FeatBit events after a cursor. `read` returns a finite stream (one pass) that ends when the source
 * has caught up; the engine decides when to read again (follow mode). Reading again from any page's cursor
 * and state yields the rows after it that were not delivered.
 */
export interface Source {
  readonly read: (from: Cursor | undefined, options: ReadOptions) => Stream.Stream<SourcePage, SourceError>
  /**
   * Connects and confirms the source can be read (credentials, table, columns). Returns the facts it
   * confirmed, one sentence each; fails with a sentence that says what to fix.
   */
  readonly check?: Effect.Effect<ReadonlyArray<string>, SourceError>
  /**
   * What the source selects (store, table, filters, cursor column, window). The engine keeps it in the
   * checkpoint and refuses to resume under a selection the cursor does not fit (see `compareSelection`).
   */
  readonly selection?: Selection
}

/**
 * Fails with the first cross-key mistake of a source's filters (`sourceFilterIssues`), for a source made
 * without a pipeline file; the runner reports the same mistakes at their lines when the file loads.
 */
export const checkSourceFilters = (plugin: string, config: Partial<SourceFilterConfig>): Effect.Effect<void, SourceError> => {
  const [issue] = sourceFilterIssues(config)
  return issue === undefined ? Effect.void : Effect.fail(SourceError.fatal(plugin, issue.message))
}
