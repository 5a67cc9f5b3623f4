import type { FeatBitRow, MetricKind } from "@featbit-export/core"
import { Cursor, Timestamp } from "@featbit-export/core"
import {
  applicationTypes,
  defaultEnvIds,
  defaultStart,
  eventNames,
  flags,
  flagValueRoute,
  metricRoute,
  users
} from "./Pools.js"
import { Prng, UUID_DRAWS } from "./Prng.js"

export interface GenerateOptions {
  /** Rows to generate. */
  readonly count: number
  /** Same seed, same rows (default 1). */
  readonly seed?: number | undefined
  /** Environments the rows are spread over (default `defaultEnvIds`). */
  readonly envIds?: ReadonlyArray<string> | undefined
  /** Time of the first row, rounded up to a whole millisecond (default 2024-01-01T00:00:00.000000Z). */
  readonly start?: Timestamp.Timestamp | undefined
  /** At most this many rows share a timestamp (default 4; 1 = no ties). */
  readonly maxTie?: number | undefined
  /** The first `tieBurst` rows all share one timestamp, to put ties across page boundaries (default 0). */
  readonly tieBurst?: number | undefined
  /** Every N-th row gets properties that cannot be decoded (default 0 = never). */
  readonly malformedEvery?: number | undefined
}

/** A keyset position, as far as the generator needs one. */
type After = Pick<Cursor.Cursor, "timestamp" | "id">

/** The largest gap between two consecutive timestamps, in ms. Small, so a demo run covers hours, not years. */
const MAX_STEP_MS = 200
/** PRNG draws per row besides its id: fixed, so skipping rows is counting draws. */
const CHOICE_DRAWS = 6
const ROW_DRAWS = UUID_DRAWS + CHOICE_DRAWS
/** FeatBit's SDKs send ms; the store keeps µs; the last three digits are always 000. */
const MICROS_SUFFIX = "000Z"

/** One row before its properties are written: its id and the draws that decide its content. */
interface Draft {
  readonly id: string
  readonly kind: number
  readonly env: number
  readonly user: number
  readonly pick: number
  readonly value: number
  readonly extra: number
}

const compareDrafts = (a: Draft, b: Draft): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

const checkCount = (name: string, value: number, min: number): number => {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`${name} must be a whole number of at least ${min}, got ${value}`)
  }
  return value
}

/** Keeps the group-size draw inside the range `Prng.below` draws exactly. */
export const MAX_TIE_LIMIT = 1_000_000

const checkMaxTie = (maxTie: number): number => {
  if (maxTie > MAX_TIE_LIMIT) throw new RangeError(`maxTie must be at most ${MAX_TIE_LIMIT}, got ${maxTie}`)
  return maxTie
}

const json = JSON.stringify

/**
 * Properties JSON written by concatenating pre-encoded pieces, in FeatBit's key order: `JSON.stringify`
 * of a fresh object per row would cost most of the generation time.
 */
interface FlagPieces {
  readonly distinctId: string
  /** `{"route":...,"sendToExperiment":` */
  readonly head: string
  readonly variationIds: ReadonlyArray<string>
}

interface UserPieces {
  readonly keyId: string
  readonly name: string
}

const metricKinds: ReadonlyArray<MetricKind> = ["CustomEvent", "PageView", "Click"]

interface MetricPieces {
  readonly kind: MetricKind
  readonly names: ReadonlyArray<{ readonly distinctId: string; readonly head: string }>
}

const userPieces: ReadonlyArray<UserPieces> = users.map((user) => ({ keyId: json(user.keyId), name: json(user.name) }))

const metricPieces: ReadonlyArray<MetricPieces> = metricKinds.map((kind) => ({
  kind,
  names: eventNames[kind].map((name) => ({
    distinctId: name,
    head: `{"route":${json(metricRoute)},"type":${json(kind)},"eventName":${json(name)},"numericValue":`
  }))
}))

const applicationTypePieces = applicationTypes.map((type) => json(type))

const flagPiecesFor = (envId: string): ReadonlyArray<FlagPieces> =>
  flags.map((flag) => {
    const flagId = `${envId}-${flag.key}`
    return {
      distinctId: flagId,
      head:
        `{"route":${json(flagValueRoute)},"flagId":${json(flagId)},"envId":${json(envId)},` +
        `"accountId":"","projectId":"","featureFlagKey":${json(flag.key)},"sendToExperiment":`,
      variationIds: flag.variationIds
    }
  })

/** Kind thresholds over a draw in [0, 1000): 70% FlagValue, then CustomEvent, PageView, Click. */
const FLAG_VALUE_BELOW = 700
const CUSTOM_EVENT_BELOW = 940
const PAGE_VIEW_BELOW = 970

/**
 * A whole number most of the time (written `1`, as FeatBit writes a float that happens to be whole),
 * sometimes a count, sometimes an amount with cents.
 */
const numericValueOf = (draw: number): number => {
  const bucket = draw % 100
  if (bucket < 75) return 1
  if (bucket < 88) return 2 + ((draw >>> 8) % 49)
  return ((draw >>> 8) % 100_000) / 100
}

/** Breakage that core's decoder must reject, rotated so every kind shows up in a short run. */
const malformed = (row: FeatBitRow, ordinal: number): FeatBitRow => {
  const text = row.properties as string
  switch (ordinal % 3) {
    case 0:
      // A truncated write: the JSON ends early.
      return { ...row, properties: text.slice(0, Math.max(1, text.length - 7)) }
    case 1: {
      // A required key missing.
      const properties = JSON.parse(text) as Record<string, unknown>
      delete properties[row.event === "FlagValue" ? "featureFlagKey" : "eventName"]
      return { ...row, properties: JSON.stringify(properties) }
    }
    default: {
      // A value of the wrong type.
      const properties = JSON.parse(text) as Record<string, unknown>
      if (row.event === "FlagValue") properties["sendToExperiment"] = "yes"
      else properties["numericValue"] = "n/a"
      return { ...row, properties: JSON.stringify(properties) }
    }
  }
}

const millisSuffix: ReadonlyArray<string> = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, "0") + MICROS_SUFFIX)

/**
 * Formats whole-millisecond instants. `toISOString` was a fifth of the generation time, so the text up
 * to the second is kept and only the milliseconds change, which is all that changes between most rows.
 */
const makeFormatter = (): ((ms: number) => Timestamp.Timestamp) => {
  let second = Number.NaN
  let prefix = ""
  return (ms) => {
    const s = Math.floor(ms / 1000)
    if (s !== second) {
      const iso = new Date(s * 1000).toISOString()
      if (iso.length !== 24) throw new RangeError(`generated time ${iso} is outside years 0000-9999`)
      second = s
      prefix = iso.slice(0, 20)
    }
    return (prefix + millisSuffix[ms - s * 1000]!) as Timestamp.Timestamp
  }
}

/**
 * Core's `Timestamp` only checks the text's shape, so `2024-02-31T...` or hour 99 pass it (and
 * `Timestamp.toMicros` then throws on them); a round trip through `Date` catches both.
 */
export const isRealInstant = (timestamp: string): boolean => {
  const millis = Date.parse(timestamp.slice(0, 23) + "Z")
  return !Number.isNaN(millis) && new Date(millis).toISOString().slice(0, 23) === timestamp.slice(0, 23)
}

const ceilMillis = (timestamp: Timestamp.Timestamp): number => {
  if (!isRealInstant(timestamp)) throw new RangeError(`start ${timestamp} is not a real instant`)
  const micros = Timestamp.toMicros(timestamp)
  const ms = micros / 1000n
  return Number(micros % 1000n > 0n ? ms + 1n : ms)
}

/** Options with their defaults applied, checked once. */
interface Resolved {
  readonly count: number
  readonly seed: number
  readonly envIds: ReadonlyArray<string>
  readonly startMillis: number
  readonly maxTie: number
  readonly tieBurst: number
  readonly malformedEvery: number
}

const resolve = (options: GenerateOptions): Resolved => {
  const envIds = options.envIds ?? defaultEnvIds
  if (envIds.length === 0) throw new RangeError("envIds must list at least one environment")
  const seed = options.seed ?? 1
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`)
  return {
    count: checkCount("count", options.count, 0),
    seed,
    envIds,
    startMillis: ceilMillis(options.start ?? defaultStart),
    maxTie: checkMaxTie(checkCount("maxTie", options.maxTie ?? 4, 1)),
    tieBurst: checkCount("tieBurst", options.tieBurst ?? 0, 0),
    malformedEvery: checkCount("malformedEvery", options.malformedEvery ?? 0, 0)
  }
}

const rows = function* (options: Resolved, after: After | undefined): Generator<FeatBitRow, void, undefined> {
  const { count, maxTie, tieBurst, malformedEvery } = options
  const rng = new Prng(options.seed)
  const envs = options.envIds.map((envId) => ({ envId, json: json(envId), flags: flagPiecesFor(envId) }))
  const envCount = envs.length
  const userCount = userPieces.length
  const appCount = applicationTypePieces.length

  const nextDraft = (): Draft => ({
    id: rng.uuid(),
    kind: rng.below(1000),
    env: rng.below(envCount),
    user: rng.below(userCount),
    pick: rng.next(),
    value: rng.next(),
    extra: rng.next()
  })

  const build = (draft: Draft, timestamp: Timestamp.Timestamp, ingestedAt: Timestamp.Timestamp): FeatBitRow => {
    const env = envs[draft.env]!
    const user = userPieces[draft.user]!
    if (draft.kind < FLAG_VALUE_BELOW) {
      const flag = env.flags[draft.pick % env.flags.length]!
      const variationId = flag.variationIds[draft.value % flag.variationIds.length]!
      const send = draft.extra % 5 < 2 ? "true" : "false"
      return {
        id: draft.id,
        distinctId: flag.distinctId,
        envId: env.envId,
        event: "FlagValue",
        properties:
          flag.head + send + ',"userKeyId":' + user.keyId + ',"userName":' + user.name +
          ',"variationId":"' + variationId + '","tag_0":' + user.keyId + ',"tag_1":"' + variationId +
          '","tag_2":"' + send + '","tag_3":' + user.name + "}",
        timestamp,
        ingestedAt
      }
    }
    const metric = metricPieces[draft.kind < CUSTOM_EVENT_BELOW ? 0 : draft.kind < PAGE_VIEW_BELOW ? 1 : 2]!
    const name = metric.names[draft.pick % metric.names.length]!
    const value = String(numericValueOf(draft.value))
    return {
      id: draft.id,
      distinctId: name.distinctId,
      envId: env.envId,
      event: metric.kind,
      properties:
        name.head + value + ',"user":{"keyId":' + user.keyId + ',"name":' + user.name + '},"applicationType":' +
        applicationTypePieces[draft.extra % appCount]! + ',"projectId":"","envId":' + env.json +
        ',"accountId":"","tag_0":' + user.keyId + ',"tag_1":"' + value + '","tag_2":' + user.name + "}",
      timestamp,
      ingestedAt
    }
  }

  const formatMillis = makeFormatter()
  const formatSecond = makeFormatter()
  const tieRange = maxTie - 1
  let ms = options.startMillis
  let ingestedSecond = Number.NaN
  let ingestedAt = "" as Timestamp.Timestamp
  let position = 0 // rows emitted or skipped so far
  while (position < count) {
    // Drawn for every group, the burst included, so a read that skips rows consumes the same draws.
    const sizeDraw = rng.below(2 * tieRange)
    const step = 1 + rng.below(MAX_STEP_MS)
    // Half the groups are single rows, the others hold 2..maxTie rows.
    const size =
      position === 0 && tieBurst > 0 ? tieBurst : tieRange === 0 || sizeDraw < tieRange ? 1 : 2 + sizeDraw - tieRange
    const timestamp = formatMillis(ms)
    if (after !== undefined && timestamp < after.timestamp) {
      rng.skip(size * ROW_DRAWS)
    } else {
      const second = Math.floor(ms / 1000)
      if (second !== ingestedSecond) {
        ingestedSecond = second
        ingestedAt = formatSecond((second + 1) * 1000)
      }
      const group: Array<Draft> = []
      for (let i = 0; i < size; i++) group.push(nextDraft())
      if (size > 1) {
        group.sort(compareDrafts)
        // 122 random bits make a repeated id practically impossible; keyset order must not rest on that.
        for (let i = 1; i < size; i++) {
          if (group[i]!.id === group[i - 1]!.id) throw new Error(`generated the id ${group[i]!.id} twice`)
        }
      }
      const end = Math.min(size, count - position)
      for (let i = 0; i < end; i++) {
        const d = group[i]!
        if (after !== undefined && timestamp === after.timestamp && Cursor.compare({ timestamp, id: d.id }, after) <= 0) {
          continue
        }
        const row = build(d, timestamp, ingestedAt)
        const n = position + i + 1
        yield malformedEvery > 0 && n % malformedEvery === 0 ? malformed(row, n / malformedEvery - 1) : row
      }
    }
    position += size
    ms += step
  }
}

/**
 * Synthetic FeatBit rows, shaped exactly like ClickHouse's `events` rows, in keyset order: ascending
 * `(timestamp, id)`, no two equal. The same options give the same rows, and a smaller `count` gives a
 * prefix of a larger one. Bad options throw a `RangeError` at the call, not at the first row.
 */
export const generateRows = (options: GenerateOptions): Generator<FeatBitRow, void, undefined> =>
  rows(resolve(options), undefined)

/**
 * The rows of `generateRows(options)` strictly after the keyset position `after`. Rows before it are
 * skipped by advancing the PRNG, without being built, so resuming near the end of a long run is cheap.
 */
export const generateRowsAfter = (
  options: GenerateOptions,
  after: After | undefined
): Generator<FeatBitRow, void, undefined> => rows(resolve(options), after)
