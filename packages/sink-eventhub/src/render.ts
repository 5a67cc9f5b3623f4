import { type ExportEvent, type SinkFields, isFlagValue } from "@featbit-export/core"

/** The version of the JSON body's shape; consumers can switch on it. */
export const SCHEMA_VERSION = 1

/** What one FeatBit event becomes at Event Hubs. */
export interface EventHubMessage {
  /** The canonical event with `schemaVersion`, or the body `sink.map` computed (sent as JSON, UTF-8). */
  readonly body: unknown
  /** The FeatBit uuid: consumers deduplicate on it. */
  readonly messageId: string
  readonly contentType: "application/json"
  /**
   * Application properties, for filtering without parsing bodies; `partitionKey` carries the key, since a
   * send to a partition id may not carry the `x-opt-partition-key` annotation.
   */
  readonly properties: Readonly<Record<string, string>>
  /** What chooses the partition (the same one the service would choose for it); undefined: round robin. */
  readonly partitionKey: string | undefined
}

export interface RenderConfig {
  readonly partitionKey: string
}

/** The partition key of an event: the user key, none, or the named field's value. */
export const partitionKeyOf = (setting: string, event: ExportEvent): string | undefined => {
  if (setting === "none") return undefined
  if (setting === "user") return event.user.keyId
  const value = (event as unknown as Record<string, unknown>)[setting] ?? event.properties[setting] ?? event.tags[setting]
  if (value === undefined || value === null) return undefined
  return typeof value === "string" ? value : JSON.stringify(value)
}

/**
 * What one event becomes at Event Hubs, with the fields the file's `map:` computed for it: a mapped
 * `partitionKey` replaces the configured one (`none` included) and then goes where any key goes, a mapped
 * `body` replaces the canonical event. The transform step has checked their types; a key that is not a
 * string (from a caller that skipped it) counts as not mapped.
 */
export const render =
  (config: RenderConfig) =>
  (event: ExportEvent, fields?: SinkFields): EventHubMessage => {
    const mappedKey = fields?.["partitionKey"]
    const partitionKey = typeof mappedKey === "string" ? mappedKey : partitionKeyOf(config.partitionKey, event)
    const mappedBody = fields?.["body"]
    const properties: Record<string, string> = isFlagValue(event)
      ? { event: event.event, envId: event.envId, flagKey: event.flagKey }
      : { event: event.event, envId: event.envId, eventName: event.eventName }
    if (partitionKey !== undefined) properties["partitionKey"] = partitionKey
    return {
      body: mappedBody === undefined ? { schemaVersion: SCHEMA_VERSION, ...event } : mappedBody,
      messageId: event.id,
      contentType: "application/json",
      properties,
      partitionKey
    }
  }
