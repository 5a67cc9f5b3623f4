import type { MappableField, SinkFields } from "@featbit-export/core"

/** The parts of a PostHog event a pipeline file may compute (`sink.map`), each replacing the sink's own choice. */
export const POSTHOG_MAPPABLE = {
  event: {
    type: "string",
    description: "The PostHog event name, instead of $feature_flag_called or the metric's eventName"
  },
  distinct_id: {
    type: "string",
    description: "The event's distinct_id, instead of the FeatBit user key (an empty one is refused by PostHog and dead-lettered)"
  },
  properties: {
    type: "map",
    description: "The event's properties, instead of the whole set the sink builds ($feature_flag and the rest included)"
  }
} as const satisfies Readonly<Record<string, MappableField>>

/** The mapped parts of one event; a part left out keeps the sink's own value. */
export interface EventFields {
  readonly event?: string
  readonly distinctId?: string
  readonly properties?: Record<string, unknown>
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * The event parts among an event's fields. The transform step has checked every value against its declared
 * type already; these checks only keep a caller that skips it from sending a number as an event name.
 */
export const eventFields = (fields: SinkFields | undefined): EventFields | undefined => {
  if (fields === undefined) return undefined
  const { event, distinct_id, properties } = fields
  const out: { event?: string; distinctId?: string; properties?: Record<string, unknown> } = {}
  if (typeof event === "string") out.event = event
  if (typeof distinct_id === "string") out.distinctId = distinct_id
  if (isPlainObject(properties)) out.properties = properties
  return out.event === undefined && out.distinctId === undefined && out.properties === undefined ? undefined : out
}

/** The names of the mapped parts, for a sentence about an event they made. */
export const mappedNames = (fields: EventFields): string =>
  Object.keys(fields)
    .map((key) => (key === "distinctId" ? "distinct_id" : key))
    .join(", ")
