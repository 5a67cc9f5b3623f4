import { handWrittenFlagKeys } from "./Pools.js"
import { Prng } from "./Prng.js"

// The hand-written flags first, then flags named after product areas. Like users, a flag depends only on
// its position: a pool of 20 flags is a prefix of a pool of 60, whatever the seed.

export interface FlagDefinition {
  /** Matches `^[a-zA-Z0-9._-]+$`, the rule of FeatBit's pending insight validation. */
  readonly key: string
  readonly variationIds: ReadonlyArray<string>
}

/** Flags in the pool when no size is given. */
export const DEFAULT_FLAGS = 60
/** The largest pool; the generator keeps every flag's pieces per environment in memory. */
export const MAX_FLAGS = 10_000

const areas = ["checkout", "search", "billing", "profile", "cart", "mobile", "api", "admin", "notifications", "reports", "sso", "inbox"]
const features = ["new-layout", "v3", "kill-switch", "beta", "redesign", "rollout", "ab_test", "fast-path", "dark-launch", "cache", "limits", "preview"]
const separators = [".", "-", "_"]

/** The `ordinal`-th candidate key; later rounds of the same area and feature get a number. */
const candidateKey = (ordinal: number): string => {
  const area = areas[ordinal % areas.length]!
  const rest = Math.floor(ordinal / areas.length)
  const feature = features[rest % features.length]!
  const round = Math.floor(rest / features.length)
  const key = `${area}${separators[(ordinal + rest) % separators.length]!}${feature}`
  return round === 0 ? key : `${key}-${round + 1}`
}

// Variation ids come from their own fixed stream, so they never depend on the seed a run uses. The pool
// only grows, in order, so the stream hands out the same ids to the same flags however it is reached.
const variationIds = new Prng(0x5eed_f1a9)
const pool: Array<FlagDefinition> = []
const taken = new Set<string>()
let nextCandidate = 0

const add = (key: string, variations: number): void => {
  taken.add(key)
  pool.push({ key, variationIds: Array.from({ length: variations }, () => variationIds.uuid()) })
}

for (const [key, variations] of handWrittenFlagKeys) add(key, variations)

const grow = (size: number): void => {
  while (pool.length < size) {
    const ordinal = nextCandidate++
    const key = candidateKey(ordinal)
    // Two to four variations, as flags usually have.
    if (!taken.has(key)) add(key, 2 + (ordinal % 3))
  }
}

export const checkFlagPoolSize = (size: number): number => {
  if (!Number.isSafeInteger(size) || size < 1 || size > MAX_FLAGS) {
    throw new RangeError(`flags must be a whole number from 1 to ${MAX_FLAGS}, got ${size}`)
  }
  return size
}

/** The first `size` flags (default `DEFAULT_FLAGS`): the hand-written ones, then generated ones. */
export const flagPool = (size: number = DEFAULT_FLAGS): ReadonlyArray<FlagDefinition> => {
  grow(checkFlagPoolSize(size))
  return pool.slice(0, size)
}

/** The hand-written flags every pool starts with, with their variation ids. */
export const handWrittenFlags: ReadonlyArray<FlagDefinition> = pool.slice(0, handWrittenFlagKeys.length)
