import type { MappableField } from "@featbit-export/core"

/** What a pipeline file may compute for the file sink (`sink.map`). */
export const FILE_MAPPABLE = {
  record: {
    type: "dyn",
    description: "The JSON value written as the event's line, instead of the whole canonical event"
  }
} as const satisfies Readonly<Record<string, MappableField>>
