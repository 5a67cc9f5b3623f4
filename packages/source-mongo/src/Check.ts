import { SourceError } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import type { Document } from "mongodb"
import type { Session } from "./Client.js"
import { PLUGIN } from "./Errors.js"
import { KEYSET_SORT, MIN_DATE, type ReadSettings, baseFilter } from "./Read.js"

/** An index as `listIndexes` reports it. */
export interface IndexInfo {
  readonly name: string
  readonly key: Readonly<Record<string, unknown>>
}

/**
 * The index that serves this source's reads best, by the equality-sort-range rule: the filtered fields
 * (`env_id` when envIds is set, `event` when events is set) first, then the keyset `timestamp, _id`. MongoDB
 * then reads one index range per environment (and kind) and merges them in keyset order, touching only the
 * documents it returns.
 */
export const recommendedIndex = (settings: Pick<ReadSettings, "envIds" | "events">): Record<string, 1> => ({
  ...(settings.envIds === undefined ? {} : { env_id: 1 as const }),
  ...(settings.events === undefined ? {} : { event: 1 as const }),
  timestamp: 1,
  _id: 1
})

/**
 * Whether an index can return this source's pages in keyset order without sorting: some of the filtered
 * fields first (in any order), then `timestamp` and `_id` in the same direction. FeatBit's own
 * `{event, env_id, distinct_id, timestamp}` cannot: `distinct_id` comes before `timestamp` and `_id` is missing.
 */
export const servesKeyset = (key: Readonly<Record<string, unknown>>, settings: Pick<ReadSettings, "envIds" | "events">): boolean => {
  const equality = new Set([...(settings.envIds === undefined ? [] : ["env_id"]), ...(settings.events === undefined ? [] : ["event"])])
  const entries = Object.entries(key)
  let i = 0
  while (i < entries.length && equality.has(entries[i]![0])) i++
  const time = entries[i]
  const id = entries[i + 1]
  return time?.[0] === "timestamp" && id?.[0] === "_id" && typeof time[1] === "number" && typeof id[1] === "number" && Math.sign(time[1]) === Math.sign(id[1])
}

/** True when the index also leads with every filtered field, so no other environment's entries are scanned. */
const isBest = (key: Readonly<Record<string, unknown>>, settings: Pick<ReadSettings, "envIds" | "events">): boolean =>
  servesKeyset(key, settings) && Object.keys(key).length === Object.keys(recommendedIndex(settings)).length

const shellKey = (key: Readonly<Record<string, unknown>>): string =>
  `{ ${Object.entries(key).map(([name, direction]) => `${name}: ${String(direction)}`).join(", ")} }`

/** The mongosh command that creates the recommended index. */
export const createIndexCommand = (collection: string, settings: Pick<ReadSettings, "envIds" | "events">): string => {
  const target = /^[A-Za-z_$][\w$]*$/.test(collection) ? `db.${collection}` : `db.getCollection(${JSON.stringify(collection)})`
  return `${target}.createIndex(${shellKey(recommendedIndex(settings))})`
}

/** One sentence about the collection's indexes: which one serves the reads, or the exact index to create. */
export const indexAdvice = (indexes: ReadonlyArray<IndexInfo>, database: string, collection: string, settings: Pick<ReadSettings, "envIds" | "events">): string => {
  const command = createIndexCommand(collection, settings)
  const best = indexes.find((index) => isBest(index.key, settings))
  if (best !== undefined) return `the index ${best.name} ${shellKey(best.key)} serves the keyset reads`
  const serving = indexes.find((index) => servesKeyset(index.key, settings))
  if (serving !== undefined) {
    return `the index ${serving.name} ${shellKey(serving.key)} returns pages in keyset order but also walks the environments or kinds the source skips; in the database ${database}, ${command} makes each page read only what it returns`
  }
  return `no index of ${database}.${collection} serves the keyset order (timestamp, _id) (FeatBit creates only { event: 1, env_id: 1, distinct_id: 1, timestamp: 1 }), so every page scans and sorts the matching documents: the source works, slower; in the database ${database}, run ${command}`
}

/**
 * Connects, authenticates, confirms the collection exists and can be read with the source's own query,
 * and reads its indexes to say which index to create. Each confirmed fact is one sentence.
 */
export const checkSource = (session: Session, settings: ReadSettings): Effect.Effect<ReadonlyArray<string>, SourceError> =>
  Effect.gen(function* () {
    const { context, attempt: run } = session
    const facts: Array<string> = []
    const info = yield* run(`connecting to ${context.target}`, ({ db }) => db.command({ buildInfo: 1 }))
    facts.push(`connected to MongoDB ${typeof info["version"] === "string" ? info["version"] : "(unknown version)"} at ${context.target}`)

    const names = yield* run(`listing the collections of ${context.database}`, ({ db }) =>
      db.listCollections({}, { nameOnly: true }).toArray().then((all) => all.map((c: Document) => String(c["name"])))
    )
    if (!names.includes(context.collection)) {
      const shown = names.length === 0 ? "none" : names.slice(0, 12).join(", ") + (names.length > 12 ? ` and ${names.length - 12} more` : "")
      return yield* Effect.fail(
        SourceError.fatal(
          PLUGIN,
          `the collection ${context.database}.${context.collection} does not exist at ${context.target} (collections in ${context.database}: ${shown}); set the source's database and collection (FeatBit Standard writes featbit.Events)`
        )
      )
    }
    facts.push(`collection ${context.database}.${context.collection} exists`)

    const indexes = yield* run(`listing the indexes of ${context.database}.${context.collection}`, ({ collection }) =>
      collection.listIndexes().toArray()
    )
    facts.push(
      indexAdvice(
        indexes.map((index: Document) => ({ name: String(index["name"]), key: (index["key"] ?? {}) as Record<string, unknown> })),
        context.database,
        context.collection,
        settings
      )
    )

    yield* run(`reading ${context.database}.${context.collection}`, ({ collection }) =>
      collection.find({ ...baseFilter(settings), timestamp: { $gte: MIN_DATE } }, { sort: KEYSET_SORT, limit: 1 }).toArray()
    )
    facts.push(`the url's user can read ${context.database}.${context.collection}`)
    return facts
  })
