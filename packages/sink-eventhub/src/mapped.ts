import type { MappableField } from "@featbit-export/core"

/** The parts of an Event Hubs event a pipeline file may compute (`sink.map`), each replacing the sink's own. */
export const EVENTHUB_MAPPABLE = {
  partitionKey: {
    type: "string",
    description: "The key that chooses the event's partition (and its partitionKey property), instead of the one sink.partitionKey names"
  },
  body: {
    type: "dyn",
    description: "The event's JSON body, instead of the canonical event with schemaVersion"
  }
} as const satisfies Readonly<Record<string, MappableField>>
