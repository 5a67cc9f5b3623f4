import { ExportEvent as ExportEventSchema } from "@featbit-export/core"
import * as Schema from "effect/Schema"

// One evaluation and one metric with every field a sink maps, for sinks' unit tests (exports use generateRows).
const base = {
  id: "0b7a3c1e-0000-4000-8000-000000000001",
  envId: "env-1",
  distinctId: "d-1",
  timestamp: "2024-03-05T10:11:12.123456Z",
  user: { keyId: "user-1", name: "Ada" },
  route: "/home",
  accountId: "acc",
  projectId: "proj",
  tags: {},
  properties: {}
}

/** A FlagValue event, decoded as a source would give it; `overrides` replace whole fields. */
export const flagEvent = (overrides: Record<string, unknown> = {}): ExportEventSchema =>
  Schema.decodeUnknownSync(ExportEventSchema)({
    ...base,
    event: "FlagValue",
    flagId: "flag-id-1",
    flagKey: "new-checkout",
    variationId: "var-b",
    sendToExperiment: false,
    ...overrides
  })

/** A CustomEvent metric (`purchase`, 42.5), decoded as a source would give it; `overrides` replace whole fields. */
export const metricEvent = (overrides: Record<string, unknown> = {}): ExportEventSchema =>
  Schema.decodeUnknownSync(ExportEventSchema)({
    ...base,
    id: "0b7a3c1e-0000-4000-8000-000000000002",
    event: "CustomEvent",
    eventName: "purchase",
    numericValue: 42.5,
    applicationType: "Javascript",
    ...overrides
  })
