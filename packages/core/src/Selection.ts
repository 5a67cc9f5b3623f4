import * as Schema from "effect/Schema"

/**
 * What a source selects, as its checkpoint remembers it: the store and table, the filters, the cursor
 * column, the window. A value is text, a list (a set: order does not matter), or null for "everything".
 *
 * A checkpoint is a position in one selection. Read under another, it silently means something else: widen
 * `envIds` and the added environment's history lies behind the cursor and is never read. So a changed
 * selection is compared with the remembered one when a pipeline starts (`compareSelection`).
 */
export const Selection = Schema.Record({
  key: Schema.String,
  value: Schema.Union(Schema.String, Schema.Array(Schema.String), Schema.Null)
}).annotations({ identifier: "Selection" })
export type Selection = typeof Selection.Type

/** Keys whose value is a set of which a subset may be chosen later without losing anything already read. */
const SET_KEYS: ReadonlySet<string> = new Set(["envIds", "events"])
/** Keys that may change freely under a checkpoint: the end of a window can move. */
const FREE_KEYS: ReadonlySet<string> = new Set(["endAt"])

export type SelectionVerdict =
  | { readonly _tag: "Same" }
  /** Only free keys changed, or sets narrowed: the checkpoint stays valid. `notes` say what changed. */
  | { readonly _tag: "Accepted"; readonly notes: ReadonlyArray<string> }
  /** The checkpoint cannot be read under the new selection; `changes` name each change. */
  | { readonly _tag: "Refused"; readonly changes: ReadonlyArray<string> }

const show = (value: Selection[string] | undefined): string =>
  value === undefined || value === null ? "everything" : typeof value === "string" ? value : `[${value.join(", ")}]`

const sameValue = (a: Selection[string] | undefined, b: Selection[string] | undefined): boolean => {
  if (a === undefined || a === null || b === undefined || b === null) return (a ?? null) === (b ?? null)
  if (typeof a === "string" || typeof b === "string") return a === b
  return a.length === b.length && [...a].sort().join("\u0000") === [...b].sort().join("\u0000")
}

/**
 * Compares the selection a checkpoint was made under with the one configured now. Narrowing a set (fewer
 * environments or kinds) and moving `endAt` keep the checkpoint valid; anything else (a wider set, another
 * table, another cursor column, another `startAt`) is refused, since rows the new selection adds would lie
 * behind the cursor, unread.
 */
export const compareSelection = (stored: Selection, current: Selection): SelectionVerdict => {
  const notes: Array<string> = []
  const changes: Array<string> = []
  for (const key of new Set([...Object.keys(stored), ...Object.keys(current)])) {
    const before = stored[key]
    const now = current[key]
    if (sameValue(before, now)) continue
    if (FREE_KEYS.has(key)) {
      notes.push(`${key} changed from ${show(before)} to ${show(now)}`)
      continue
    }
    if (SET_KEYS.has(key)) {
      const added = addedTo(before, now)
      if (added === undefined) {
        notes.push(`${key} narrowed from ${show(before)} to ${show(now)}: rows outside it after the cursor are no longer exported`)
        continue
      }
      changes.push(`${key} changed from ${show(before)} to ${show(now)}, which adds ${added}`)
      continue
    }
    changes.push(`${key} changed from ${show(before)} to ${show(now)}`)
  }
  if (changes.length > 0) return { _tag: "Refused", changes }
  return notes.length > 0 ? { _tag: "Accepted", notes } : { _tag: "Same" }
}

/** What `now` selects that `before` did not, as text; undefined when `now` is a subset of `before`. */
const addedTo = (before: Selection[string] | undefined, now: Selection[string] | undefined): string | undefined => {
  if (before === undefined || before === null) return undefined
  if (now === undefined || now === null) return "everything else"
  const old = new Set(typeof before === "string" ? [before] : before)
  const extra = (typeof now === "string" ? [now] : now).filter((value) => !old.has(value))
  return extra.length === 0 ? undefined : extra.join(", ")
}
