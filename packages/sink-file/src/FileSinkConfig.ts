import * as Schema from "effect/Schema"
import { ByteSize } from "./ByteSize.js"

/** The keys of a `type: file` sink in a pipeline file. */
export const FileSinkConfig = Schema.Struct({
  // Described on the key: a description on the refinement itself would replace its error message.
  path: Schema.propertySignature(Schema.NonEmptyString).annotations({
    description:
      "Where events go: a file (events.ndjson), or a folder (ending with \"/\", or without an extension) that receives <pipeline>.ndjson. Relative to the pipeline file"
  }),
  maxBytes: Schema.optional(ByteSize).annotations({
    description:
      "Start a new file when the next batch would take the current one past this size (e.g. 100MB, 1GiB); a batch is never split. Absent: never rotate"
  })
})
export type FileSinkConfig = typeof FileSinkConfig.Type
