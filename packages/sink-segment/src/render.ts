import { createHash } from "node:crypto"
import { type ExportEvent, isFlagValue } from "@featbit-export/core"
import type { SegmentSinkConfig } from "./SegmentSinkConfig.js"
import { version } from "./version.js"

/** One item of a Segment `/v1/batch` request. */
export interface SegmentMessage {
  readonly type: "track" | "identify"
  readonly messageId: string
  readonly userId?: string
  readonly anonymousId?: string
  readonly event?: string
  readonly properties?: Record<string, unknown>
  readonly traits?: Record<string, unknown>
  readonly timestamp: string
  readonly context: { readonly library: { readonly name: string; readonly version: string } }
}

/** The mapping options `render` needs. */
export type RenderConfig = Pick<SegmentSinkConfig, "flagEventName" | "experimentViewed" | "identify">

const library = { name: "featbit-export", version } as const
const context = { library } as const

/** A deterministic identify messageId: the same user of the same environment always gets the same one. */
export const identifyMessageId = (envId: string, userKey: string): string =>
  `identify-${createHash("sha256").update(envId).update("\u0000").update(userKey).digest("hex").slice(0, 48)}`

/** The `identify` for the event's user, or undefined when the event has no user key. */
export const renderIdentify = (event: ExportEvent): SegmentMessage | undefined =>
  event.user.keyId === ""
    ? undefined
    : {
        type: "identify",
        messageId: identifyMessageId(event.envId, event.user.keyId),
        userId: event.user.keyId,
        traits: { name: event.user.name },
        timestamp: event.timestamp,
        context
      }

/**
 * A track with `userId`, or with `anonymousId` when the event has no user key. Written as two literals,
 * not a spread: objects of one fixed shape serialize about a third faster, and the sink serializes every
 * event it sends.
 */
const track = (event: ExportEvent, name: string, properties: Record<string, unknown>): SegmentMessage =>
  event.user.keyId !== ""
    ? { type: "track", messageId: event.id, userId: event.user.keyId, event: name, properties, timestamp: event.timestamp, context }
    : {
        type: "track",
        messageId: event.id,
        anonymousId: event.distinctId !== "" ? event.distinctId : event.id,
        event: name,
        properties,
        timestamp: event.timestamp,
        context
      }

/** The `track` of one event. */
export const renderTrack = (config: RenderConfig, event: ExportEvent): SegmentMessage => {
  if (isFlagValue(event)) {
    const variationValue = event.properties["variationValue"]
    const flag =
      variationValue === undefined
        ? {
            flagKey: event.flagKey,
            flagId: event.flagId,
            variationId: event.variationId,
            sendToExperiment: event.sendToExperiment,
            envId: event.envId,
            accountId: event.accountId,
            projectId: event.projectId,
            route: event.route
          }
        : {
            flagKey: event.flagKey,
            flagId: event.flagId,
            variationId: event.variationId,
            variationValue,
            sendToExperiment: event.sendToExperiment,
            envId: event.envId,
            accountId: event.accountId,
            projectId: event.projectId,
            route: event.route
          }
    if (!(config.experimentViewed && event.sendToExperiment)) return track(event, config.flagEventName, flag)
    return track(event, "Experiment Viewed", {
      experiment_id: event.flagKey,
      experiment_name: event.flagKey,
      variation_id: event.variationId,
      variation_name: typeof variationValue === "string" ? variationValue : event.variationId,
      ...flag
    })
  }
  return track(event, event.eventName, {
    value: event.numericValue,
    type: event.event,
    applicationType: event.applicationType,
    envId: event.envId,
    accountId: event.accountId,
    projectId: event.projectId,
    route: event.route
  })
}

/**
 * What one event becomes at Segment (for `preview`): its `track`, preceded by the user's `identify` when
 * `identify` is on (the sink sends that identify only the first time it meets the user in a run).
 */
export const render =
  (config: RenderConfig) =>
  (event: ExportEvent): ReadonlyArray<SegmentMessage> => {
    const identify = config.identify ? renderIdentify(event) : undefined
    const track = renderTrack(config, event)
    return identify === undefined ? [track] : [identify, track]
  }
