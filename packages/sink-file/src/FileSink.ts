import * as fs from "node:fs/promises"
import * as path from "node:path"
import { type Sink, accepted, defineSink } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import { activeFile } from "./FileLayout.js"
import { FileSinkConfig, fileSinkResources } from "./FileSinkConfig.js"
import * as ActiveFile from "./internal/ActiveFile.js"
import { fileError } from "./internal/errors.js"
import { encodeBatch, lineValue, toLine } from "./internal/lines.js"
import { FILE_MAPPABLE } from "./mapped.js"

/**
 * `type: file`: appends every event as one line of JSON (NDJSON) to a file, fsynced before the batch is
 * acknowledged, optionally rotated by size.
 */
export const FileSink = defineSink({
  type: "file",
  description: "NDJSON files: one event per line, fsynced before acknowledgement, rotated by size",
  config: FileSinkConfig,
  // It claims the file it appends to, so that no two pipelines of a file share one.
  resources: fileSinkResources,
  make: (config, context) =>
    Effect.gen(function* () {
      const file = activeFile(config, context)
      const dir = path.dirname(file)
      const active = yield* ActiveFile.open(file, config.maxBytes)

      const write: Sink["write"] = (batch) =>
        Effect.gen(function* () {
          // Rotation and fsync act on these bytes: a mapped record counts as what it is on disk.
          const { bytes, rejected } = encodeBatch(batch)
          if (bytes.length > 0) yield* active.append(bytes)
          return rejected.length === 0 ? accepted : { rejected }
        })

      // Creating, syncing and removing a file is exactly what writes and rotations need from the folder.
      const check = Effect.gen(function* () {
        const probe = path.join(dir, `.${path.basename(file)}.probe-${process.pid}-${Date.now()}`)
        yield* Effect.tryPromise({
          try: async () => {
            const handle = await fs.open(probe, "wx")
            try {
              await handle.writeFile("probe\n")
              await handle.sync()
            } finally {
              await handle.close()
            }
            await fs.unlink(probe)
          },
          catch: (cause) => fileError(dir, cause)
        }).pipe(Effect.ensuring(Effect.promise(() => fs.rm(probe, { force: true }).catch(() => undefined))))
        const size = yield* active.size
        return [
          `folder ${dir} exists and is writable (created, fsynced and removed a probe file)`,
          `events are appended to ${file}, which holds ${size} bytes now`,
          config.maxBytes === undefined
            ? "the file is never rotated (no maxBytes)"
            : `a new file is started when a batch would take it past ${config.maxBytes} bytes`
        ]
      })

      return { write, check, maxInFlight: 1 } satisfies Sink
    }),
  mappable: FILE_MAPPABLE,
  render: () => (event, fields) => JSON.parse(toLine(lineValue(event, fields))) as unknown
})
