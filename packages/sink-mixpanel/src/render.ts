import { createHash } from "node:crypto"
import { type ExportEvent, type SinkFields, Timestamp, isFlagValue } from "@featbit-export/core"
import { type EventFields, eventFields } from "./mapped.js"
import { MIXPANEL_LIMITS, type MixpanelSinkConfig } from "./MixpanelSinkConfig.js"

/** One record of a Mixpanel `/import` request. */
export interface MixpanelEvent {
  readonly event: string
  readonly properties: Record<string, unknown>
}

/** The mapping options `render` needs. */
export type RenderConfig = Pick<MixpanelSinkConfig, "flagEventName" | "experimentStarted" | "geolocate">

/** Mixpanel's experiment exposure event, read by its Experiments report with "Experiment name" and "Variant name". */
export const EXPERIMENT_STARTED = "$experiment_started"

/** The `distinct_id` values Mixpanel refuses, which it applies to `$insert_id` too (import-events.mdx). */
const DENIED_IDS: ReadonlySet<string> = new Set([
  "00000000-0000-0000-0000-000000000000",
  "anon",
  "anonymous",
  "nil",
  "none",
  "null",
  "n/a",
  "na",
  "undefined",
  "unknown",
  "<nil>",
  "0",
  "-1",
  "true",
  "false",
  "[]",
  "{}"
])

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/

/**
 * The `$insert_id` of a FeatBit event id, the same for every send of the event: a UUID is written as its 32
 * hex digits, lowercase (the form with hyphens is exactly 36 bytes, Mixpanel's limit, and this leaves room);
 * another id that fits Mixpanel's rules (at most 36 bytes of alphanumerics and `-`, not on its deny list) is
 * kept as it is; any other id becomes the first 32 hex digits of its SHA-256.
 */
export const insertIdOf = (id: string): string => {
  if (UUID.test(id)) {
    const hex = id.replace(/-/g, "").toLowerCase()
    if (!/^0+$/.test(hex)) return hex
  }
  if (id.length > 0 && id.length <= MIXPANEL_LIMITS.maxInsertIdBytes && /^[A-Za-z0-9-]+$/.test(id) && !UUID.test(id) && !DENIED_IDS.has(id.toLowerCase())) {
    return id
  }
  return createHash("sha256").update(id).digest("hex").slice(0, 32)
}

/** The event's time in milliseconds since the epoch (FeatBit keeps microseconds; the rest is cut, never rounded). */
export const timeMs = (event: ExportEvent): number => Number(Timestamp.toMicros(event.timestamp) / 1000n)

/** The distinct_id of the event: the mapped one, else the FeatBit user key. */
export const distinctIdOf = (event: ExportEvent, fields?: EventFields): string => fields?.distinctId ?? event.user.keyId

/** The event name a flag evaluation gets. */
const flagEventNameOf = (config: RenderConfig, event: ExportEvent & { readonly sendToExperiment: boolean }): string =>
  config.experimentStarted && event.sendToExperiment ? EXPERIMENT_STARTED : config.flagEventName

/**
 * The `/import` record of one event, with the parts the pipeline file mapped (`sink.map`) in place of the
 * sink's. `time`, `distinct_id` and `$insert_id` are written first and by the sink: Mixpanel deduplicates on
 * (event, distinct_id, time, $insert_id), so a re-send must carry the same four.
 */
export const renderEvent = (config: RenderConfig, event: ExportEvent, fields?: EventFields): MixpanelEvent => {
  const identity = {
    time: timeMs(event),
    distinct_id: distinctIdOf(event, fields),
    $insert_id: insertIdOf(event.id),
    ...(config.geolocate ? {} : { ip: "0" })
  }
  if (isFlagValue(event)) {
    const name = fields?.event ?? flagEventNameOf(config, event)
    if (fields?.properties !== undefined) return { event: name, properties: { ...fields.properties, ...identity } }
    // Enrichment (`enrich:`) gives the served value and the names; an SDK-stored variationValue is the fallback.
    const variationValue = event.variationValue !== undefined ? event.variationValue : event.properties["variationValue"]
    const experiment =
      name === EXPERIMENT_STARTED
        ? {
            "Experiment name": event.flagKey,
            "Variant name": event.variationName ?? (typeof variationValue === "string" ? variationValue : event.variationId)
          }
        : {}
    return {
      event: name,
      properties: {
        ...identity,
        ...experiment,
        featbitId: event.id,
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
    }
  }
  const name = fields?.event ?? event.eventName
  if (fields?.properties !== undefined) return { event: name, properties: { ...fields.properties, ...identity } }
  return {
    event: name,
    properties: {
      ...identity,
      featbitId: event.id,
      value: event.numericValue,
      type: event.event,
      applicationType: event.applicationType,
      envId: event.envId,
      accountId: event.accountId,
      projectId: event.projectId,
      route: event.route
    }
  }
}

/** What one event becomes at Mixpanel (for `preview`), with the fields the file's `map:` computed for it. */
export const render =
  (config: RenderConfig) =>
  (event: ExportEvent, fields?: SinkFields): ReadonlyArray<MixpanelEvent> => [renderEvent(config, event, eventFields(fields))]
