import * as path from "node:path"
import type { PluginContext, PluginResource } from "@featbit-export/core"
import * as Schema from "effect/Schema"
import { ByteSize } from "./ByteSize.js"
import { activeFile } from "./FileLayout.js"

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

// Where names differ only in case, they name one file.
const caseInsensitive = process.platform === "darwin" || process.platform === "win32"

/**
 * The file a sink appends to, claimed for its pipeline alone: two pipelines appending to one file would
 * interleave their batches, and each would rotate the other's file away. Folder paths get one file per
 * pipeline, so pipelines may share a folder.
 */
export const fileSinkResources = (config: FileSinkConfig, context: PluginContext): ReadonlyArray<PluginResource> => {
  const file = activeFile(config, context)
  const relative = path.relative(context.baseDir, file)
  return [
    {
      kind: "file",
      id: caseInsensitive ? file.toLowerCase() : file,
      path: ["path"],
      label: relative === "" || relative.startsWith("..") || path.isAbsolute(relative) ? file : relative
    }
  ]
}
