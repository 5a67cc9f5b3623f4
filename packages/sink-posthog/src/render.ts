import { type ExportEvent, type SinkFields, Timestamp, isFlagValue } from "@featbit-export/core"
import { type EventFields, eventFields } from "./mapped.js"
import type { PostHogSinkConfig } from "./PostHogSinkConfig.js"
import { version } from "./version.js"

/** PostHog's own event for a flag evaluation: its flag and experiment views read it. */
export const FEATURE_FLAG_CALLED = "$feature_flag_called"

/** One item of a PostHog `/batch/` request. */
export interface PostHogEvent {
  readonly event: string
  readonly distinct_id: string
  readonly uuid: string
  readonly timestamp: string
  readonly properties: Record<string, unknown>
}

/** The mapping options `render` needs. */
export type RenderConfig = Pick<PostHogSinkConfig, "personName">

/** The 8-4-4-4-12 hex form: what PostHog (and posthog-node) take as a uuid. */
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/
export const isUuid = (id: string): boolean => UUID.test(id)

/** The event's distinct_id: the mapped one, else the FeatBit user key, else FeatBit's distinctId. */
export const distinctIdOf = (event: ExportEvent, fields?: EventFields): string =>
  fields?.distinctId ?? (event.user.keyId !== "" ? event.user.keyId : event.distinctId)

/** FeatBit's event time as PostHog reads it: ISO 8601 UTC with the microseconds kept. */
export const timestampOf = (event: ExportEvent): string => Timestamp.parse(event.timestamp) ?? event.timestamp

/** The value a flag evaluation reports as `$feature_flag_response`: the served value from enrichment, else the variation id. */
export const flagResponse = (event: ExportEvent & { readonly event: "FlagValue" }): unknown =>
  event.variationValue !== undefined ? event.variationValue : event.variationId

const common = (config: RenderConfig, event: ExportEvent): Record<string, unknown> => ({
  featbit_env_id: event.envId,
  featbit_account_id: event.accountId,
  featbit_project_id: event.projectId,
  featbit_route: event.route,
  // The export runs on a server: PostHog would otherwise place every event at the exporter's IP.
  $geoip_disable: true,
  $lib: "featbit-export",
  $lib_version: version,
  ...(config.personName && event.user.name !== "" ? { $set: { name: event.user.name } } : {})
})

/** The sink's own properties of an event. */
const propertiesOf = (config: RenderConfig, event: ExportEvent): Record<string, unknown> => {
  if (isFlagValue(event)) {
    const response = flagResponse(event)
    return {
      $feature_flag: event.flagKey,
      $feature_flag_response: response,
      [`$feature/${event.flagKey}`]: response,
      featbit_flag_id: event.flagId,
      featbit_variation_id: event.variationId,
      ...(event.flagName === undefined ? {} : { featbit_flag_name: event.flagName }),
      ...(event.variationName === undefined ? {} : { featbit_variation_name: event.variationName }),
      featbit_send_to_experiment: event.sendToExperiment,
      ...common(config, event)
    }
  }
  return {
    value: event.numericValue,
    featbit_event_type: event.event,
    featbit_application_type: event.applicationType,
    ...common(config, event)
  }
}

/** The PostHog event of one FeatBit event, with the parts the pipeline file mapped (`sink.map`) in place of the sink's. */
export const renderEvent = (config: RenderConfig, event: ExportEvent, fields?: EventFields): PostHogEvent => ({
  event: fields?.event ?? (isFlagValue(event) ? FEATURE_FLAG_CALLED : event.eventName),
  distinct_id: distinctIdOf(event, fields),
  uuid: event.id,
  timestamp: timestampOf(event),
  properties: fields?.properties ?? propertiesOf(config, event)
})

/** What one event becomes at PostHog (for `preview`): the item of the `batch` array it is sent as. */
export const render =
  (config: RenderConfig) =>
  (event: ExportEvent, fields?: SinkFields): PostHogEvent =>
    renderEvent(config, event, eventFields(fields))
