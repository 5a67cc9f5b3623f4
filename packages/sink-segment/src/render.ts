import { createHash } from "node:crypto"
import { type ExportEvent, type SinkFields, isFlagValue } from "@featbit-export/core"
import { type TrackFields, trackFields } from "./mapped.js"
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

/** The userId of the event's track: the mapped one, else the FeatBit user key; "" means anonymous. */
export const trackUserId = (event: ExportEvent, fields?: TrackFields): string => fields?.userId ?? event.user.keyId

/**
 * The `identify` for the event's user, naming the userId its track carries (a mapped userId included, so
 * the name lands on the profile the tracks go to), or undefined when there is no FeatBit user to name
 * (no user key) or the track is anonymous.
 */
export const renderIdentify = (event: ExportEvent, fields?: TrackFields): SegmentMessage | undefined => {
  const userId = trackUserId(event, fields)
  return event.user.keyId === "" || userId === ""
    ? undefined
    : {
        type: "identify",
        messageId: identifyMessageId(event.envId, userId),
        userId,
        traits: { name: event.user.name },
        timestamp: event.timestamp,
        context
      }
}

/**
 * A track with `userId`, or with `anonymousId` when it has none. The mapped parts replace the sink's name,
 * properties and userId. Written as two literals, not a spread: objects of one fixed shape serialize about
 * a third faster, and the sink serializes every event it sends.
 */
const track = (event: ExportEvent, fields: TrackFields | undefined, name: string, properties: Record<string, unknown>): SegmentMessage => {
  const userId = trackUserId(event, fields)
  return userId !== ""
    ? {
        type: "track",
        messageId: event.id,
        userId,
        event: fields?.event ?? name,
        properties: fields?.properties ?? properties,
        timestamp: event.timestamp,
        context
      }
    : {
        type: "track",
        messageId: event.id,
        anonymousId: event.distinctId !== "" ? event.distinctId : event.id,
        event: fields?.event ?? name,
        properties: fields?.properties ?? properties,
        timestamp: event.timestamp,
        context
      }
}

/** The `track` of one event, with the parts the pipeline file mapped (`sink.map`) in place of the sink's. */
export const renderTrack = (config: RenderConfig, event: ExportEvent, fields?: TrackFields): SegmentMessage => {
  if (isFlagValue(event)) {
    // Enrichment (`enrich:`) gives the served value and the names; an SDK-stored variationValue is the fallback.
    const variationValue = event.variationValue !== undefined ? event.variationValue : event.properties["variationValue"]
    const flag = {
      flagKey: event.flagKey,
      ...(event.flagName === undefined ? {} : { flagName: event.flagName }),
      flagId: event.flagId,
      variationId: event.variationId,
      ...(variationValue === undefined ? {} : { variationValue }),
      ...(event.variationName === undefined ? {} : { variationName: event.variationName }),
      sendToExperiment: event.sendToExperiment,
      envId: event.envId,
      accountId: event.accountId,
      projectId: event.projectId,
      route: event.route
    }
    if (!(config.experimentViewed && event.sendToExperiment)) return track(event, fields, config.flagEventName, flag)
    return track(event, fields, "Experiment Viewed", {
      experiment_id: event.flagKey,
      experiment_name: event.flagName ?? event.flagKey,
      variation_id: event.variationId,
      variation_name: event.variationName ?? (typeof variationValue === "string" ? variationValue : event.variationId),
      ...flag
    })
  }
  return track(event, fields, event.eventName, {
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
 * What one event becomes at Segment (for `preview`), with the fields the file's `map:` computed for it: its
 * `track`, preceded by the user's `identify` when `identify` is on (the sink sends that identify only the
 * first time it meets the user in a run).
 */
export const render =
  (config: RenderConfig) =>
  (event: ExportEvent, fields?: SinkFields): ReadonlyArray<SegmentMessage> => {
    const mapped = trackFields(fields)
    const identify = config.identify ? renderIdentify(event, mapped) : undefined
    const track = renderTrack(config, event, mapped)
    return identify === undefined ? [track] : [identify, track]
  }
