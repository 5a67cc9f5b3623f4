import type { EventHubSinkConfig } from "./EventHubSinkConfig.js"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"

/** Where the sink sends: a connection string (never printed), the hub, and a printable description. */
export interface EventHubTarget {
  readonly connectionString: string
  readonly hub: string | undefined
  /** `host/hub`, safe to print. */
  readonly where: string
  readonly secrets: ReadonlyArray<string>
}

/** A `Name=value` field of a connection string (names compared case-insensitively). */
export const connectionStringField = (connectionString: string, name: string): string | undefined => {
  for (const part of connectionString.split(";")) {
    const at = part.indexOf("=")
    if (at > 0 && part.slice(0, at).trim().toLowerCase() === name.toLowerCase()) return part.slice(at + 1).trim()
  }
  return undefined
}

/** Resolves the configuration to a connection string; fails with a sentence when it names no destination. */
export const resolveTarget = (config: EventHubSinkConfig): Either.Either<EventHubTarget, string> => {
  if (config.connectionString !== undefined) {
    const cs = Redacted.value(config.connectionString)
    const endpoint = connectionStringField(cs, "Endpoint")
    if (endpoint === undefined) return Either.left("sink.connectionString has no Endpoint=sb://...: copy it from the hub's or namespace's Shared access policies")
    const hub = config.hub ?? connectionStringField(cs, "EntityPath")
    if (hub === undefined) return Either.left("name the event hub: set sink.hub, or use a connection string with EntityPath=<hub>")
    const host = endpoint.replace(/^[a-z]+:\/\//i, "").replace(/\/+$/, "")
    const secrets = [cs, connectionStringField(cs, "SharedAccessKey"), connectionStringField(cs, "SharedAccessSignature")].filter((s): s is string => s !== undefined && s !== "")
    return Either.right({ connectionString: cs, hub: config.hub, where: `${host}/${hub}`, secrets })
  }
  if (config.namespace === undefined || config.sasKeyName === undefined || config.sasKey === undefined || config.hub === undefined) {
    return Either.left("configure the event hub: either sink.connectionString, or sink.namespace, sink.hub, sink.sasKeyName and sink.sasKey")
  }
  const host = config.namespace.includes(".") ? config.namespace : `${config.namespace}.servicebus.windows.net`
  const key = Redacted.value(config.sasKey)
  const cs = `Endpoint=sb://${host}/;SharedAccessKeyName=${config.sasKeyName};SharedAccessKey=${key}`
  return Either.right({ connectionString: cs, hub: config.hub, where: `${host}/${config.hub}`, secrets: [cs, key].filter((s) => s !== "") })
}
