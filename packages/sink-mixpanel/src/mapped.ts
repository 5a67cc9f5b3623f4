import type { MappableField, SinkFields } from "@featbit-export/core"

/** The parts of a Mixpanel event a pipeline file may compute (`sink.map`), each replacing the sink's own choice. */
export const MIXPANEL_MAPPABLE = {
  event: {
    type: "string",
    description: 'The event name, instead of flagEventName, "$experiment_started" or the metric\'s eventName'
  },
  properties: {
    type: "map",
    description:
      "The event's properties, instead of the set the sink builds; time, distinct_id, $insert_id (and ip unless geolocate) are still set by the sink, so a retry stays a duplicate"
  },
  distinctId: {
    type: "string",
    description: "The event's distinct_id, instead of the FeatBit user key"
  }
} as const satisfies Readonly<Record<string, MappableField>>

/** The mapped parts of one event; a part left out keeps the sink's own value. */
export interface EventFields {
  readonly event?: string
  readonly properties?: Record<string, unknown>
  readonly distinctId?: string
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * The event parts among an event's fields. The transform step has checked every value against its declared
 * type already; these checks only keep a caller that skips it from sending a number as an event name.
 */
export const eventFields = (fields: SinkFields | undefined): EventFields | undefined => {
  if (fields === undefined) return undefined
  const { event, properties, distinctId } = fields
  const out: { event?: string; properties?: Record<string, unknown>; distinctId?: string } = {}
  if (typeof event === "string" && event !== "") out.event = event
  if (isPlainObject(properties)) out.properties = properties
  if (typeof distinctId === "string") out.distinctId = distinctId
  return out.event === undefined && out.properties === undefined && out.distinctId === undefined ? undefined : out
}

/** The names of the mapped parts, for a sentence about an event they made. */
export const mappedNames = (fields: EventFields): string => Object.keys(fields).join(", ")
