import type { ExportEvent } from "./Event.js"
import { chunkRequests } from "./RequestChunks.js"
import type { RejectedEvent } from "./Sink.js"

/** One event, serialized once: its JSON bytes are what a destination's limits count and what is sent. */
export interface SerializedEvent {
  readonly json: string
  readonly bytes: number
  readonly event: ExportEvent
}

/**
 * A batch's events serialized for a JSON-array API (Amplitude, Mixpanel, PostHog): each rendered once, those
 * larger than `maxEventBytes` refused with the sink's reason (so the limits of a request can always hold
 * one event), the rest packed in order into request groups within the count and byte limits.
 */
export const serializeEvents = <M>(
  events: ReadonlyArray<ExportEvent>,
  options: {
    /** The event's JSON body, and what `sink.map` gave it (for the reason of a refusal). */
    readonly render: (event: ExportEvent) => { readonly json: string; readonly mapped: M }
    /** Why an event is refused before it is rendered (PostHog's id that is not a UUID); undefined: not refused. */
    readonly refuse?: (event: ExportEvent) => string | undefined
    readonly tooLarge: (bytes: number, mapped: M) => string
    readonly maxEventBytes: number
    readonly maxEventsPerRequest: number
    readonly maxBytesPerRequest: number
    readonly envelopeBytes: number
  }
): { readonly groups: Array<Array<SerializedEvent>>; readonly rejected: Array<RejectedEvent> } => {
  const rejected: Array<RejectedEvent> = []
  const items: Array<SerializedEvent> = []
  for (const event of events) {
    const refused = options.refuse?.(event)
    if (refused !== undefined) {
      rejected.push({ event, reason: refused })
      continue
    }
    const { json, mapped } = options.render(event)
    const bytes = Buffer.byteLength(json)
    if (bytes > options.maxEventBytes) rejected.push({ event, reason: options.tooLarge(bytes, mapped) })
    else items.push({ json, bytes, event })
  }
  return { groups: chunkRequests(items, options.maxEventsPerRequest, options.maxBytesPerRequest, options.envelopeBytes), rejected }
}
