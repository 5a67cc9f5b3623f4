import { type PluginConfigIssue, Secrets } from "@featbit-export/core"
import * as Redacted from "effect/Redacted"
import type { EventHubSinkConfig } from "./EventHubSinkConfig.js"
import { connectionStringField } from "./target.js"

/** A namespace's name: 6 to 50 letters, digits and hyphens, from a letter, to a letter or digit. */
const NAMESPACE_NAME = /^[A-Za-z][A-Za-z0-9-]{4,48}[A-Za-z0-9]$/

/**
 * The connection string's `Endpoint=sb://host[:port]/` and the `namespace`, checked when the file loads,
 * with what else the sink needs to name a hub (a hub, a key). A mistake there would otherwise surface at
 * the first send. The connection string is a secret: no part of it is quoted.
 */
export const configIssues = (config: EventHubSinkConfig): ReadonlyArray<PluginConfigIssue> => {
  if (config.connectionString !== undefined) {
    const problem = connectionStringProblem(Redacted.value(config.connectionString), config.hub)
    return problem === undefined ? [] : [{ path: ["connectionString"], message: problem }]
  }
  if (config.namespace !== undefined) {
    const problem = namespaceProblem(config.namespace.trim())
    if (problem !== undefined) return [{ path: ["namespace"], message: problem }]
  }
  const missing = (["namespace", "hub", "sasKeyName", "sasKey"] as const).filter((key) => config[key] === undefined)
  return missing.length === 0
    ? []
    : [{ path: [], message: `configure the event hub: either sink.connectionString, or sink.namespace, sink.hub, sink.sasKeyName and sink.sasKey (missing: ${missing.join(", ")})` }]
}

const connectionStringProblem = (connectionString: string, hub: string | undefined): string | undefined => {
  const endpoint = connectionStringField(connectionString, "Endpoint")
  if (endpoint === undefined) return "connectionString has no Endpoint=sb://...: copy it from the hub's or namespace's Shared access policies"
  const parts = Secrets.splitUrl(endpoint)
  if (parts === undefined || parts.scheme !== "sb") return "the Endpoint of connectionString must be sb://<namespace>.servicebus.windows.net/ (an AMQP endpoint)"
  if (parts.userinfo !== undefined) return "the Endpoint of connectionString carries credentials; the key goes in SharedAccessKey= only"
  const problem = Secrets.authorityProblem(parts.authority, { quote: false })
  if (problem !== undefined) return `the Endpoint of connectionString is not a valid sb://host/: ${problem}`
  if ((hub ?? connectionStringField(connectionString, "EntityPath")) === undefined) {
    return "name the event hub: set sink.hub, or use a connection string with EntityPath=<hub>"
  }
  const key = connectionStringField(connectionString, "SharedAccessKey") ?? connectionStringField(connectionString, "SharedAccessSignature")
  if (key === undefined || key === "") return "connectionString has no SharedAccessKey= (nor SharedAccessSignature=): copy the whole connection string of a shared access policy"
  return undefined
}

const namespaceProblem = (namespace: string): string | undefined => {
  if (/:\/\//.test(namespace) || namespace.includes("/")) {
    return 'namespace is the namespace\'s name or host ("my-ns" or "my-ns.servicebus.windows.net"), not a URL; remove the sb:// and the path'
  }
  if (!namespace.includes(".")) {
    return NAMESPACE_NAME.test(namespace)
      ? undefined
      : "namespace is not a namespace name (6 to 50 letters, digits and hyphens, starting with a letter and ending with a letter or digit)"
  }
  const problem = Secrets.authorityProblem(namespace, { port: false })
  return problem === undefined ? undefined : `namespace is not a host name: ${problem}`
}
