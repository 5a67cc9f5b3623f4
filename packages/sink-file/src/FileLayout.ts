import * as fs from "node:fs/promises"
import * as path from "node:path"
import type { PluginContext, SinkError } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import { fileError } from "./internal/errors.js"

/**
 * The file a sink appends to. `path` names a folder when it ends with "/" or has no extension; the folder
 * then holds `<pipeline>.ndjson`, so several pipelines can share it. A path with an extension always names a
 * file, even if a folder of that name exists: writing then fails and says to add the "/", rather than
 * guessing which of the two the person meant.
 */
export const activeFile = (config: { readonly path: string }, context: PluginContext): string => {
  const resolved = path.resolve(context.baseDir, config.path)
  return isFolderPath(config.path) ? path.join(resolved, `${context.pipeline}.ndjson`) : resolved
}

const isFolderPath = (given: string): boolean =>
  given.endsWith("/") || given.endsWith(path.sep) || path.extname(given) === ""

/** `events.ndjson` → `{ stem: "events", extension: ".ndjson" }` */
const splitName = (file: string): { readonly stem: string; readonly extension: string } => {
  const extension = path.extname(file)
  return { stem: path.basename(file, extension), extension }
}

/** `2024-01-01T00:00:00.123Z` → `20240101T000000123Z`: sortable, and legal in file names everywhere. */
const compactUtc = (millis: number): string => new Date(millis).toISOString().replace(/[-:.]/g, "")

/**
 * The name a full file gets when it is rotated out: `<stem>-<UTC time>-<n><extension>` next to the active
 * file. `n` separates rotations within the same millisecond.
 */
export const rotatedFile = (active: string, millis: number, n: number): string => {
  const { stem, extension } = splitName(active)
  return path.join(path.dirname(active), `${stem}-${compactUtc(millis)}-${n}${extension}`)
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/**
 * Every file a sink writing to `active` has produced, oldest first: the rotated files in the order they
 * were rotated, then the active file if it exists. Reading them in this order gives the events in the order
 * they were written.
 */
export const listFiles = (active: string): Effect.Effect<ReadonlyArray<string>, SinkError> =>
  Effect.tryPromise({
    try: async () => {
      const dir = path.dirname(active)
      const { stem, extension } = splitName(active)
      const rotated = new RegExp(`^${escapeRegExp(stem)}-(\\d{8}T\\d{9}Z)-(\\d+)${escapeRegExp(extension)}$`)
      let entries: Array<string>
      try {
        entries = await fs.readdir(dir)
      } catch (cause) {
        if ((cause as NodeJS.ErrnoException).code === "ENOENT") return []
        throw cause
      }
      const found: Array<{ readonly file: string; readonly stamp: string; readonly n: number }> = []
      for (const entry of entries) {
        const match = rotated.exec(entry)
        if (match !== null) found.push({ file: path.join(dir, entry), stamp: match[1]!, n: Number(match[2]) })
      }
      // Numeric n: "-10" must come after "-9".
      found.sort((a, b) => (a.stamp < b.stamp ? -1 : a.stamp > b.stamp ? 1 : a.n - b.n))
      const files = found.map((f) => f.file)
      if (entries.includes(path.basename(active))) files.push(active)
      return files
    },
    catch: (cause) => fileError(active, cause)
  })
