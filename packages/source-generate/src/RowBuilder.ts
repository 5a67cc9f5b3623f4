import type { FeatBitRow, MetricKind, Timestamp } from "@featbit-export/core"
import { flagPool } from "./FlagPool.js"
import { applicationTypes, eventNames, flagValueRoute, metricRoute } from "./Pools.js"
import { keyIdJsonAt, nameJsonAt, reserveKeyIds } from "./UserPool.js"

// Properties JSON is written by concatenating pre-encoded pieces, in FeatBit's key order: `JSON.stringify`
// of a fresh object per row would cost most of the generation time. Everything between two values that
// vary per row is one piece, encoded once, because the number of pieces is what a row costs (building it,
// and flattening it when it is read).

/** One row before its properties are written: its id and the draws that decide its content. */
export interface Draft {
  readonly id: string
  readonly kind: number
  readonly env: number
  readonly user: number
  readonly pick: number
  readonly value: number
  readonly extra: number
}

const json = JSON.stringify

/** Text read once, so that the rows sharing it do not each flatten it again. */
const flat = (text: string): string => {
  text.charCodeAt(0)
  return text
}

/** The pieces of one variation of a flag, for rows that send it to experiments or not. */
interface VariationPieces {
  /** `,"variationId":"V","tag_0":` */
  readonly variation: string
  /** `,"tag_1":"V","tag_2":"true","tag_3":` */
  readonly tagsSent: string
  /** `,"tag_1":"V","tag_2":"false","tag_3":` */
  readonly tagsNotSent: string
}

interface FlagPieces {
  readonly distinctId: string
  /** `{"route":...,"sendToExperiment":true,"userKeyId":` */
  readonly headSent: string
  /** `{"route":...,"sendToExperiment":false,"userKeyId":` */
  readonly headNotSent: string
  readonly variations: ReadonlyArray<VariationPieces>
}

const flagPiecesFor = (envId: string, flags: number): ReadonlyArray<FlagPieces> =>
  flagPool(flags).map((flag) => {
    const flagId = `${envId}-${flag.key}`
    const head =
      `{"route":${json(flagValueRoute)},"flagId":${json(flagId)},"envId":${json(envId)},` +
      `"accountId":"","projectId":"","featureFlagKey":${json(flag.key)},"sendToExperiment":`
    return {
      distinctId: flagId,
      headSent: flat(head + 'true,"userKeyId":'),
      headNotSent: flat(head + 'false,"userKeyId":'),
      variations: flag.variationIds.map((id) => ({
        variation: flat(`,"variationId":${json(id)},"tag_0":`),
        tagsSent: flat(`,"tag_1":${json(id)},"tag_2":"true","tag_3":`),
        tagsNotSent: flat(`,"tag_1":${json(id)},"tag_2":"false","tag_3":`)
      }))
    }
  })

interface MetricPieces {
  readonly kind: MetricKind
  /** Per event name: `{"route":...,"numericValue":` */
  readonly names: ReadonlyArray<{ readonly distinctId: string; readonly head: string }>
}

const metricKinds: ReadonlyArray<MetricKind> = ["CustomEvent", "PageView", "Click"]

const metricPieces: ReadonlyArray<MetricPieces> = metricKinds.map((kind) => ({
  kind,
  names: eventNames[kind].map((name) => ({
    distinctId: name,
    head: flat(`{"route":${json(metricRoute)},"type":${json(kind)},"eventName":${json(name)},"numericValue":`)
  }))
}))

/** Per application type: `},"applicationType":"A","projectId":"","envId":"E","accountId":"","tag_0":` */
const metricMiddlesFor = (envId: string): ReadonlyArray<string> =>
  applicationTypes.map((type) =>
    flat(`},"applicationType":${json(type)},"projectId":"","envId":${json(envId)},"accountId":"","tag_0":`)
  )

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

export interface RowBuilder {
  readonly build: (draft: Draft, timestamp: Timestamp.Timestamp, ingestedAt: Timestamp.Timestamp) => FeatBitRow
}

/** Builds rows over these environments and the first `users` users and `flags` flags of the pools. */
export const makeRowBuilder = (envIds: ReadonlyArray<string>, users: number, flags: number): RowBuilder => {
  reserveKeyIds(users)
  const envs = envIds.map((envId) => ({ envId, flags: flagPiecesFor(envId, flags), metricMiddles: metricMiddlesFor(envId) }))
  const appCount = applicationTypes.length
  return {
    build: (draft, timestamp, ingestedAt) => {
      const env = envs[draft.env]!
      const keyId = keyIdJsonAt(draft.user)
      const userName = nameJsonAt(draft.user)
      if (draft.kind < FLAG_VALUE_BELOW) {
        const flag = env.flags[draft.pick % env.flags.length]!
        const variation = flag.variations[draft.value % flag.variations.length]!
        const sent = draft.extra % 5 < 2
        return {
          id: draft.id,
          distinctId: flag.distinctId,
          envId: env.envId,
          event: "FlagValue",
          properties:
            (sent ? flag.headSent : flag.headNotSent) + keyId + ',"userName":' + userName + variation.variation + keyId +
            (sent ? variation.tagsSent : variation.tagsNotSent) + userName + "}",
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
          name.head + value + ',"user":{"keyId":' + keyId + ',"name":' + userName + env.metricMiddles[draft.extra % appCount]! +
          keyId + ',"tag_1":"' + value + '","tag_2":' + userName + "}",
        timestamp,
        ingestedAt
      }
    }
  }
}

/** Breakage that core's decoder must reject, rotated so every kind shows up in a short run. */
export const malformed = (row: FeatBitRow, ordinal: number): FeatBitRow => {
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
