/**
 * The canonical event as CEL sees it: each top-level field is a variable of its own, so a filter reads
 * `event == "FlagValue" && flagKey.startsWith("checkout-")`. Types are CEL's: FeatBit's numbers are doubles
 * (as JSON numbers are in CEL), the maps are `map<string, ...>`.
 */
export const EVENT_VARIABLES: Readonly<Record<string, string>> = {
  event: "string",
  id: "string",
  envId: "string",
  distinctId: "string",
  timestamp: "string",
  ingestedAt: "string",
  user: "map<string, string>",
  route: "string",
  accountId: "string",
  projectId: "string",
  tags: "map<string, string>",
  properties: "map<string, dyn>",
  flagId: "string",
  flagKey: "string",
  variationId: "string",
  sendToExperiment: "bool",
  flagName: "string",
  variationName: "string",
  variationValue: "dyn",
  eventName: "string",
  numericValue: "double",
  applicationType: "string"
}

/** Fields only one kind of event has, and which. */
export const KIND_ONLY: Readonly<Record<string, string>> = {
  flagId: "FlagValue",
  flagKey: "FlagValue",
  variationId: "FlagValue",
  sendToExperiment: "FlagValue",
  flagName: "FlagValue (with enrich:, and a flag the catalogue knows)",
  variationName: "FlagValue (with enrich:, and a variation the catalogue knows)",
  variationValue: "FlagValue (with enrich:, and a variation the catalogue knows)",
  eventName: "metric (CustomEvent, PageView, Click)",
  numericValue: "metric (CustomEvent, PageView, Click)",
  applicationType: "metric (CustomEvent, PageView, Click)"
}

/** What the engine relies on: an event's identity (the destinations' idempotency key), kind and order. */
const IDENTITY: Readonly<Record<string, string>> = {
  id: "it is the event's idempotency key at every destination",
  event: "the kind decides the event's shape; filter on it instead",
  timestamp: "it is the event's place in the export's order; put another time in a new field or under properties",
  ingestedAt: "it is the store's own time; put another time in a new field or under properties"
}

/** Fields a sink identifies the user or the destination by: replaced with `set:`, never dropped. */
const REQUIRED: Readonly<Record<string, string>> = {
  envId: "sinks and checkpoints name the environment by it",
  distinctId: "destinations identify the user or flag by it",
  "user.keyId": "destinations identify the user by it"
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/** A place in the event a `set:` or `drop:` key names. */
export type FieldPath =
  | { readonly _tag: "Top"; readonly name: string; readonly type: string }
  | { readonly _tag: "Under"; readonly parent: "properties" | "tags" | "user"; readonly key: string; readonly type: string }

/** Reads a `set:` or `drop:` key; a string is the sentence saying what is wrong with it. */
export const fieldPath = (key: string, use: "set" | "drop"): FieldPath | string => {
  const dot = key.indexOf(".")
  if (dot === -1) {
    if (IDENTITY[key] !== undefined) return `${key} cannot be ${use === "set" ? "replaced" : "dropped"}: ${IDENTITY[key]}`
    if (use === "drop" && REQUIRED[key] !== undefined) return `${key} cannot be dropped: ${REQUIRED[key]}; replace it with set: instead`
    if (!NAME.test(key)) return `${JSON.stringify(key)} is not a field name: letters, digits and _ (a key under properties is written properties.<key>)`
    return { _tag: "Top", name: key, type: EVENT_VARIABLES[key] ?? "dyn" }
  }
  const parent = key.slice(0, dot)
  const rest = key.slice(dot + 1)
  if (parent !== "properties" && parent !== "tags" && parent !== "user") {
    return `${JSON.stringify(key)}: only keys under properties, tags or user can be named with a dot (properties.plan); ${parent} has no keys`
  }
  if (rest === "") return `${JSON.stringify(key)} names no key under ${parent}`
  if (use === "drop" && REQUIRED[key] !== undefined) return `${key} cannot be dropped: ${REQUIRED[key]}; replace it with set: instead`
  if (parent === "user" && rest !== "keyId" && rest !== "name") return `${JSON.stringify(key)}: user has keyId and name only; put other user data under properties`
  return { _tag: "Under", parent, key: rest, type: parent === "properties" ? "dyn" : "string" }
}
