import type { MappableField, SinkFields } from "@featbit-export/core"

/** The parts of an Amplitude event a pipeline file may compute (`sink.map`), each replacing the sink's own choice. */
export const AMPLITUDE_MAPPABLE = {
  event_type: {
    type: "string",
    description: "The event's event_type, instead of flagEventType or the metric's eventName"
  },
  event_properties: {
    type: "map",
    description: "The event's event_properties, instead of the whole set the sink builds"
  },
  user_properties: {
    type: "map",
    description: "The event's user_properties, instead of { name }"
  },
  user_id: {
    type: "string",
    description: 'The event\'s user_id, instead of the FeatBit user key ("" sends the event with a device_id only)'
  }
} as const satisfies Readonly<Record<string, MappableField>>

/** The mapped parts of one event; a part left out keeps the sink's own value. */
export interface AmplitudeFields {
  readonly event_type?: string
  readonly event_properties?: Record<string, unknown>
  readonly user_properties?: Record<string, unknown>
  readonly user_id?: string
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * The Amplitude parts among an event's fields. The transform step has checked the types already; these
 * checks only keep a caller that skips it from sending a number as an event_type (such a value is not mapped).
 */
export const amplitudeFields = (fields: SinkFields | undefined): AmplitudeFields | undefined => {
  if (fields === undefined) return undefined
  const out: { -readonly [K in keyof AmplitudeFields]: AmplitudeFields[K] } = {}
  if (typeof fields["event_type"] === "string" && fields["event_type"] !== "") out.event_type = fields["event_type"]
  if (isPlainObject(fields["event_properties"])) out.event_properties = fields["event_properties"]
  if (isPlainObject(fields["user_properties"])) out.user_properties = fields["user_properties"]
  if (typeof fields["user_id"] === "string") out.user_id = fields["user_id"]
  return Object.keys(out).length === 0 ? undefined : out
}

/** The names of the mapped parts, for a sentence about an event they made. */
export const mappedNames = (fields: AmplitudeFields): string => Object.keys(fields).join(", ")
