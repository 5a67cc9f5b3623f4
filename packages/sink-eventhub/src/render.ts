import { type ExportEvent, isFlagValue } from "@featbit-export/core"

/** The version of the JSON body's shape; consumers can switch on it. */
export const SCHEMA_VERSION = 1

/** What one FeatBit event becomes at Event Hubs. */
export interface EventHubMessage {
  /** The canonical event with `schemaVersion` (sent as JSON, UTF-8). */
  readonly body: Readonly<Record<string, unknown>>
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

export const render =
  (config: RenderConfig) =>
  (event: ExportEvent): EventHubMessage => {
    const partitionKey = partitionKeyOf(config.partitionKey, event)
    const properties: Record<string, string> = isFlagValue(event)
      ? { event: event.event, envId: event.envId, flagKey: event.flagKey }
      : { event: event.event, envId: event.envId, eventName: event.eventName }
    if (partitionKey !== undefined) properties["partitionKey"] = partitionKey
    return { body: { schemaVersion: SCHEMA_VERSION, ...event }, messageId: event.id, contentType: "application/json", properties, partitionKey }
  }
