import { type SinkBatch, type WriteResult, SinkError, accepted } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import type { FileFormat } from "./FileFormat.js"
import { fileRow } from "./FileRows.js"
import { objectGroups } from "./Layout.js"
import type { ObjectStore } from "./ObjectStore.js"

/** Objects of one batch encoded and uploaded at once: a batch spanning environments or midnight has several. */
const OBJECTS_AT_ONCE = 4

/** What one batch became: its objects, with whether each was written now or found from an earlier try. */
export interface WrittenObject {
  readonly key: string
  readonly events: number
  readonly bytes: number
  readonly outcome: "created" | "exists"
}

/**
 * A sink's `write` over an object store: the batch's events grouped into objects by the layout, each encoded
 * in the format and created. The batch is acknowledged only when every object is complete in the store; a
 * retried batch finds its objects by key and adds nothing. `written` hears of every object (for tests, logs).
 */
export const objectWriter = (options: {
  readonly store: ObjectStore
  readonly format: FileFormat
  readonly prefix: string
  /** The sink's type, for the failure an encoding bug gives. */
  readonly plugin: string
  readonly written?: (object: WrittenObject) => void
}) => {
  const { store, format } = options
  return (batch: SinkBatch): Effect.Effect<WriteResult, SinkError> =>
    Effect.gen(function* () {
      const groups = objectGroups(batch.events, { prefix: options.prefix, extension: format.extension })
      yield* Effect.forEach(
        groups,
        (group) =>
          Effect.gen(function* () {
            const rows = group.events.map((event) => fileRow(event, batch.fields?.(event)))
            const body = yield* Effect.tryPromise({
              try: () => format.encode(rows),
              catch: (error) => SinkError.fatal(options.plugin, `could not encode a ${format.name} file (${(error as Error).message}); this is a bug, report it`, error)
            })
            const outcome = yield* store.create(group.key, body, format.contentType)
            options.written?.({ key: group.key, events: group.events.length, bytes: body.length, outcome })
          }),
        { concurrency: OBJECTS_AT_ONCE, discard: true }
      )
      return accepted
    })
}
