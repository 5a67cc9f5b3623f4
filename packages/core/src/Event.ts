import * as Schema from "effect/Schema"
import { Timestamp } from "./Timestamp.js"

/** The metric event types FeatBit's `track()` records (`event` column = the metric's `type`). */
export const MetricKind = Schema.Literal("CustomEvent", "PageView", "Click")
export type MetricKind = typeof MetricKind.Type

/** Every event kind FeatBit stores: flag evaluations and the metric kinds. */
export const EventKind = Schema.Literal("FlagValue", "CustomEvent", "PageView", "Click")
export type EventKind = typeof EventKind.Type
export const eventKinds: ReadonlyArray<EventKind> = EventKind.literals

export const EventUser = Schema.Struct({
  keyId: Schema.String.annotations({ description: "The FeatBit end user's key (userKeyId / user.keyId)" }),
  name: Schema.String
})
export type EventUser = typeof EventUser.Type

const common = {
  id: Schema.String.annotations({ description: "FeatBit's event uuid: the idempotency key everywhere" }),
  envId: Schema.String,
  distinctId: Schema.String,
  timestamp: Timestamp.annotations({ description: "FeatBit's event time (the SDK's clock), microseconds kept" }),
  ingestedAt: Schema.optional(
    Timestamp.annotations({ description: "When FeatBit's store received the event (ClickHouse _timestamp), when known" })
  ),
  user: EventUser,
  route: Schema.String,
  accountId: Schema.String,
  projectId: Schema.String,
  tags: Schema.Record({ key: Schema.String, value: Schema.String }).annotations({
    description: "The raw tag_N values FeatBit writes"
  }),
  properties: Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({
    description: "Every property as FeatBit stored it, including ones this version does not know yet"
  })
}

/** One evaluation of a feature flag for a user (flag usage / exposure). */
export const FlagValueEvent = Schema.Struct({
  event: Schema.Literal("FlagValue"),
  ...common,
  flagId: Schema.String,
  flagKey: Schema.String,
  variationId: Schema.String,
  sendToExperiment: Schema.Boolean,
  // Enrichment (`enrich:`): what FeatBit's flags said at export time.
  flagName: Schema.optional(Schema.String.annotations({ description: "The flag's name, from FeatBit's flags (enrich:)" })),
  variationName: Schema.optional(
    Schema.String.annotations({ description: "The variation's name (its value for flags from before mid-2023, which have none)" })
  ),
  variationValue: Schema.optional(
    Schema.Unknown.annotations({ description: "The variation's value, typed by the flag's variation type (boolean, number, string, json)" })
  )
}).annotations({ identifier: "FlagValueEvent" })
export type FlagValueEvent = typeof FlagValueEvent.Type

/** One experiment metric sent by `track()` (CustomEvent) or recorded as PageView / Click. */
export const MetricEvent = Schema.Struct({
  event: MetricKind,
  ...common,
  eventName: Schema.String,
  numericValue: Schema.Number,
  applicationType: Schema.String
}).annotations({ identifier: "MetricEvent" })
export type MetricEvent = typeof MetricEvent.Type

/** The canonical, source-independent event every sink receives. */
export const ExportEvent = Schema.Union(FlagValueEvent, MetricEvent).annotations({ identifier: "ExportEvent" })
export type ExportEvent = typeof ExportEvent.Type

export const isFlagValue = (event: ExportEvent): event is FlagValueEvent => event.event === "FlagValue"
export const isMetric = (event: ExportEvent): event is MetricEvent => event.event !== "FlagValue"
