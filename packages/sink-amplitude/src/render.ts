import { type ExportEvent, type SinkFields, Timestamp, isFlagValue } from "@featbit-export/core"
import type { AmplitudeSinkConfig } from "./AmplitudeSinkConfig.js"
import { type AmplitudeFields, amplitudeFields } from "./mapped.js"

/** One entry of the `events` array of an HTTP V2 or Batch request. */
export interface AmplitudeEvent {
  readonly user_id?: string
  readonly device_id?: string
  readonly event_type: string
  /** Milliseconds since the epoch (FeatBit's microseconds, cut). */
  readonly time: number
  /** The FeatBit event id: Amplitude ignores an event whose insert_id it saw within 7 days. */
  readonly insert_id: string
  readonly event_properties: Record<string, unknown>
  readonly user_properties?: Record<string, unknown>
}

/** The mapping options `render` needs. */
export type RenderConfig = Pick<AmplitudeSinkConfig, "flagEventType" | "userProperties">

/** FeatBit's microsecond timestamp as Amplitude's `time`: whole milliseconds since the epoch. */
export const timeOf = (timestamp: Timestamp.Timestamp): number => Number(Timestamp.toMicros(timestamp) / 1000n)

/** The exposure's `variant`: the served value when enrichment (or the SDK) gave it, as text; else the variation id. */
export const variantOf = (value: unknown, variationId: string): string =>
  value === undefined || value === null ? variationId : typeof value === "string" ? value : JSON.stringify(value)

const propertiesOf = (event: ExportEvent): Record<string, unknown> => {
  if (isFlagValue(event)) {
    const variationValue = event.variationValue !== undefined ? event.variationValue : event.properties["variationValue"]
    return {
      // Amplitude Experiment's exposure properties, so its exposure views read them.
      flag_key: event.flagKey,
      variant: variantOf(variationValue, event.variationId),
      ...(event.flagName === undefined ? {} : { flag_name: event.flagName }),
      flag_id: event.flagId,
      variation_id: event.variationId,
      ...(variationValue === undefined ? {} : { variation_value: variationValue }),
      ...(event.variationName === undefined ? {} : { variation_name: event.variationName }),
      send_to_experiment: event.sendToExperiment,
      env_id: event.envId,
      account_id: event.accountId,
      project_id: event.projectId,
      route: event.route
    }
  }
  return {
    value: event.numericValue,
    type: event.event,
    application_type: event.applicationType,
    env_id: event.envId,
    account_id: event.accountId,
    project_id: event.projectId,
    route: event.route
  }
}

/** The event's user_id: the mapped one, else the FeatBit user key; "" means none (a device_id is sent). */
export const userIdOf = (event: ExportEvent, fields?: AmplitudeFields): string => fields?.user_id ?? event.user.keyId

/** What one event becomes at Amplitude, with the parts the pipeline file mapped (`sink.map`) in place of the sink's. */
export const renderEvent = (config: RenderConfig, event: ExportEvent, fields?: AmplitudeFields): AmplitudeEvent => {
  const userId = userIdOf(event, fields)
  const userProperties = fields?.user_properties ?? (config.userProperties && event.user.name !== "" ? { name: event.user.name } : undefined)
  return {
    // Without a user, Amplitude needs a device_id: FeatBit's distinct id, else the event id.
    ...(userId !== "" ? { user_id: userId } : { device_id: event.distinctId !== "" ? event.distinctId : event.id }),
    event_type: fields?.event_type ?? (isFlagValue(event) ? config.flagEventType : event.eventName),
    time: timeOf(event.timestamp),
    insert_id: event.id,
    event_properties: fields?.event_properties ?? propertiesOf(event),
    ...(userProperties === undefined ? {} : { user_properties: userProperties })
  }
}

/** What one event becomes at Amplitude (for `preview`), with the fields the file's `map:` computed for it. */
export const render =
  (config: RenderConfig) =>
  (event: ExportEvent, fields?: SinkFields): AmplitudeEvent =>
    renderEvent(config, event, amplitudeFields(fields))
