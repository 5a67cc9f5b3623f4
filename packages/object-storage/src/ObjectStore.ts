import type { SinkError } from "@featbit-export/core"
import type * as Effect from "effect/Effect"

/** What an object-storage sink's destination must do: S3 (and compatible), Azure Blob Storage. */
export interface ObjectStore {
  /**
   * Writes the object whole, create-only: it becomes visible only once complete (one PUT, a completed
   * multipart upload, a committed block list), and never replaces an object of that key. A key that exists
   * already succeeds as `"exists"`: the layout gives a key to one set of events only, so it holds them.
   */
  readonly create: (key: string, body: Buffer, contentType: string) => Effect.Effect<"created" | "exists", SinkError>
  /** Where it writes, for messages: `s3://bucket/prefix`, `https://account.blob.core.windows.net/container/prefix`. */
  readonly where: string
}
