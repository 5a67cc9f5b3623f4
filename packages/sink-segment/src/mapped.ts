import type { MappableField, SinkFields } from "@featbit-export/core"

/** The parts of a track a pipeline file may compute (`sink.map`), each replacing the sink's own choice. */
export const SEGMENT_MAPPABLE = {
  event: {
    type: "string",
    description: "The track's event name, instead of flagEventName, \"Experiment Viewed\" or the metric's eventName"
  },
  properties: {
    type: "map",
    description: "The track's properties, instead of the whole set the sink builds"
  },
  userId: {
    type: "string",
    description: 'The track\'s userId, instead of the FeatBit user key (the user\'s identify names it too; "" sends the track with anonymousId)'
  }
} as const satisfies Readonly<Record<string, MappableField>>

/** The mapped parts of one event's track; a part left out keeps the sink's own value. */
export interface TrackFields {
  readonly event?: string
  readonly properties?: Record<string, unknown>
  readonly userId?: string
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * The track parts among an event's fields. The transform step has checked every value against its declared
 * type already; the checks here only keep a caller that skips it (a plugin used without the runner) from
 * sending a number as an event name, and treat such a value as not mapped.
 */
export const trackFields = (fields: SinkFields | undefined): TrackFields | undefined => {
  if (fields === undefined) return undefined
  const { event, properties, userId } = fields
  const out: { event?: string; properties?: Record<string, unknown>; userId?: string } = {}
  if (typeof event === "string") out.event = event
  if (isPlainObject(properties)) out.properties = properties
  if (typeof userId === "string") out.userId = userId
  return out.event === undefined && out.properties === undefined && out.userId === undefined ? undefined : out
}

/** The names of the mapped parts, for a sentence about a message they made. */
export const mappedNames = (fields: TrackFields): string => Object.keys(fields).join(", ")
