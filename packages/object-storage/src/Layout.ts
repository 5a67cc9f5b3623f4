import { type ExportEvent, Timestamp } from "@featbit-export/core"
import { createHash } from "node:crypto"

/** The events of a batch that go into one object: one environment, one UTC date. */
export interface ObjectGroup {
  /** The object's key: `<prefix>env_id=<env>/date=<YYYY-MM-DD>/<first>-<last>-<digest>.<extension>`. */
  readonly key: string
  readonly envId: string
  /** The UTC date of the group's events, `YYYY-MM-DD`. */
  readonly date: string
  readonly events: ReadonlyArray<ExportEvent>
}

/** `2026-12-03T08:00:00.123456Z` as `20261203T080000123456Z`: sortable, and no `:` (which some tools refuse in keys). */
const compact = (timestamp: Timestamp.Timestamp): string => timestamp.replace(/[-:.]/g, "")

/**
 * A digest of the group's ids, sorted: the same events give the same name however they were paged, and
 * other events never take the name of an object already written (loaders such as Snowflake's COPY skip a
 * name they have loaded, so a name must never hold other content).
 */
export const idsDigest = (ids: ReadonlyArray<string>): string => {
  const hash = createHash("sha256")
  for (const id of [...ids].sort()) hash.update(id).update("\n")
  return hash.digest("hex").slice(0, 16)
}

/** A key prefix as written in a pipeline file: no leading slash, one trailing slash (or none when empty). */
export const normalizePrefix = (prefix: string): string => {
  const trimmed = prefix.replace(/^\/+/, "").replace(/\/+$/, "")
  return trimmed === "" ? "" : `${trimmed}/`
}

/**
 * Splits a batch into its objects, Hive-style (`env_id=.../date=.../`), each named from its events' time range
 * and ids: a retried batch writes the same keys, and create-only writes find them there.
 * Partition values are percent-encoded, as Hive does, so a `/` in an environment id cannot add a level.
 */
export const objectGroups = (events: ReadonlyArray<ExportEvent>, options: { readonly prefix: string; readonly extension: string }): Array<ObjectGroup> => {
  const groups = new Map<string, { envId: string; date: string; events: Array<ExportEvent> }>()
  for (const event of events) {
    const date = event.timestamp.slice(0, 10)
    const id = `${event.envId}\n${date}`
    let group = groups.get(id)
    if (group === undefined) groups.set(id, (group = { envId: event.envId, date, events: [] }))
    group.events.push(event)
  }
  const prefix = normalizePrefix(options.prefix)
  return [...groups.values()].map((group) => {
    let first = group.events[0]!.timestamp
    let last = first
    for (const event of group.events) {
      if (event.timestamp < first) first = event.timestamp
      if (event.timestamp > last) last = event.timestamp
    }
    const name = `${compact(first)}-${compact(last)}-${idsDigest(group.events.map((event) => event.id))}.${options.extension}`
    return { ...group, key: `${prefix}env_id=${encodeURIComponent(group.envId)}/date=${group.date}/${name}` }
  })
}
