import { type TemplateDependencies, camel, dependenciesReadme, packageFiles, packageNameOf } from "./PluginTemplate.js"

/**
 * A new source plugin package: a working source that reads FeatBit rows from an NDJSON file in keyset pages
 * on (timestamp, id), which an author replaces with queries to their store; its config schema, a README,
 * and a test that runs the test kit's source conformance suite. A file keeps the template self-contained:
 * it needs no server to build or test, and each page is written as the one query a database would answer.
 */
export const sourceTemplate = (name: string, deps: TemplateDependencies): Record<string, string> => {
  const packageName = packageNameOf("source", name)
  return {
    ...packageFiles("source", name, `A featbit-export source: ${name}`, deps),
    "src/index.ts": `import * as fs from "node:fs/promises"
import * as path from "node:path"
import {
  Cursor,
  type ExportEvent,
  type FeatBitRow,
  type Rejection,
  type Source,
  SourceError,
  type SourcePage,
  Timestamp,
  decodeFeatBitRow,
  defineSource
} from "@featbit-export/core"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

const PLUGIN = "${name}"

/**
 * The source's keys. Describe every one: the runner validates pipeline files with this schema (errors point
 * at the line) and turns it into the JSON Schema editors use. Declare secrets with Schema.Redacted(Schema.String).
 */
export const Config = Schema.Struct({
  path: Schema.NonEmptyString.annotations({
    description:
      "NDJSON file of FeatBit rows (id, distinctId, envId, event, properties, timestamp), relative to the pipeline file (replace with your store's settings)"
  })
})

/** One line as a row, or undefined when it has no id or timestamp. The other columns are decodeFeatBitRow's to check. */
const parseRow = (line: string): FeatBitRow | undefined => {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch {
    return undefined
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined
  const row = value as Record<string, unknown>
  // Timestamps in one fixed-width form, so that comparing them as text compares instants (Cursor.compare).
  const timestamp = typeof row["timestamp"] === "string" ? Timestamp.parse(row["timestamp"]) : undefined
  if (typeof row["id"] !== "string" || row["id"] === "" || timestamp === undefined) return undefined
  const ingestedAt = typeof row["ingestedAt"] === "string" ? Timestamp.parse(row["ingestedAt"]) : undefined
  return { ...(row as unknown as FeatBitRow), timestamp, ingestedAt }
}

/**
 * Every row of the file. A line without an id and a timestamp has no place in keyset order, so it stops
 * the source with its line number (a store's rows always have both); a row whose other columns are wrong
 * is only rejected, by decodeFeatBitRow, and dead-lettered.
 */
const readRows = (file: string): Effect.Effect<Array<FeatBitRow>, SourceError> =>
  Effect.tryPromise({
    try: () => fs.readFile(file, "utf8"),
    catch: (cause) =>
      (cause as NodeJS.ErrnoException).code === "ENOENT"
        ? SourceError.fatal(PLUGIN, \`no such file: \${file}\`)
        : SourceError.transient(PLUGIN, \`cannot read \${file}: \${(cause as Error).message}\`, cause)
  }).pipe(
    Effect.flatMap((text) => {
      const rows: Array<FeatBitRow> = []
      const lines = text.split("\\n")
      for (const [index, line] of lines.entries()) {
        if (line.trim() === "") continue
        const row = parseRow(line)
        if (row === undefined) {
          return Effect.fail(SourceError.fatal(PLUGIN, \`line \${index + 1} of \${file} is not a FeatBit row with an id and a timestamp: fix or remove it\`))
        }
        rows.push(row)
      }
      return Effect.succeed(rows)
    })
  )

/**
 * One keyset page: the rows strictly after \`after\` in (timestamp, id) order, at most \`limit\`. Replace it with
 * your store's query, \`WHERE (timestamp, id) > (?, ?) ORDER BY timestamp, id LIMIT ?\` on an index of both
 * columns. Never a timestamp alone: rows that share one across a page boundary would be skipped. (The file
 * is read and sorted again for each page, which only a small file can afford.)
 */
const rowsAfter = (file: string, after: Cursor.Cursor | undefined, limit: number) =>
  Effect.map(readRows(file), (rows) => rows.filter((row) => Cursor.isAfter(row, after)).sort(Cursor.compare).slice(0, limit))

/** Decodes a page's rows; its cursor is its last row, rejected or not, as both are settled with the page. */
const toPage = (rows: ReadonlyArray<FeatBitRow>): SourcePage => {
  const events: Array<ExportEvent> = []
  const rejected: Array<Rejection> = []
  for (const row of rows) {
    const decoded = decodeFeatBitRow(row)
    if (Either.isRight(decoded)) events.push(decoded.right)
    else rejected.push(decoded.left)
  }
  return { events, rejected, cursor: Cursor.of(rows[rows.length - 1]!) }
}

/**
 * \`use: "${packageName}"\` in a pipeline file. The engine calls \`read\` with the committed cursor: return the
 * rows after it, page by page, and end the stream once caught up (it reads again in follow mode). Fail with
 * SourceError.transient for what may work later (network, timeouts) and SourceError.fatal for what a person
 * must fix (credentials, a missing table).
 */
export const ${camel(name)}Source = defineSource({
  type: "${name}",
  description: "${name}: reads FeatBit rows from an NDJSON file",
  config: Config,
  make: (config, context) =>
    Effect.sync((): Source => {
      const file = path.resolve(context.baseDir, config.path)
      return {
        read: (from, options) =>
          // Page after page until one comes back short: then the source has caught up and the pass ends.
          Stream.paginateChunkEffect(from, (after: Cursor.Cursor | undefined) =>
            Effect.map(rowsAfter(file, after, options.pageSize), (rows) => {
              if (rows.length === 0) return [Chunk.empty<SourcePage>(), Option.none()] as const
              const page = toPage(rows)
              return [Chunk.of(page), rows.length < options.pageSize ? Option.none() : Option.some(page.cursor)] as const
            })
          ),
        // For \`featbit-export check\`: what was confirmed, one sentence each.
        check: Effect.map(readRows(file), (rows) => [\`\${file} holds \${rows.length} rows\`])
      }
    })
})

export default ${camel(name)}Source
`,
    "test/conformance.test.ts": `import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { sourceConformance } from "@featbit-export/testkit"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { expect, it } from "vitest"
import Source from "../src/index.js"

/** A folder holding \`events.ndjson\` with these lines, removed with the scope. */
const storeWith = (lines: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), "${name}-"))
      await fs.writeFile(path.join(dir, "events.ndjson"), lines.map((line) => line + "\\n").join(""))
      return dir
    }),
    (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
  )

const open = (dir: string) => Source.make(Schema.decodeUnknownSync(Source.config)({ path: "events.ndjson" }), { pipeline: "conformance", baseDir: dir })

// The test kit's suite: every row once in keyset order, exact resumes from any page's cursor, ties across
// page boundaries, undecodable rows rejected, a whole export through the engine. The rows are written in
// reverse: a store does not hand them over in order, the keyset query sorts them.
sourceConformance("${name}", {
  make: (rows) => Effect.flatMap(storeWith(rows.map((row) => JSON.stringify(row)).reverse()), open)
})

it("stops at a line that has no place in keyset order, naming it", async () => {
  const error = await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const source = yield* Effect.flatMap(storeWith(['{"id":"a","timestamp":"2024-01-01T00:00:00.000000Z"}', "not json"]), open)
        return yield* Effect.flip(Stream.runDrain(source.read(undefined, { pageSize: 10 })))
      })
    )
  )
  expect(error.retryable).toBe(false)
  expect(error.message).toContain("line 2 of")
})
`,
    "README.md": `# ${packageName}

A [featbit-export](https://github.com/featbit) source plugin. Install it beside your pipeline file and name it
by package:

\`\`\`yaml
pipelines:
  - name: from-${name}
    source:
      use: "${packageName}"
      path: events.ndjson
    sink: { type: file, path: out/events.ndjson }
\`\`\`

Develop: \`npm install\`, \`npm test\` (the test kit's source conformance suite), \`npm run build\`. It reads
FeatBit rows from an NDJSON file; replace \`rowsAfter\` in \`src/index.ts\` with a query to your store, keeping
the rules: pages in \`(timestamp, id)\` order strictly after the cursor (never a timestamp alone), each page's
cursor at its last row, undecodable rows rejected rather than dropped, and failures classified as transient
or fatal.

${dependenciesReadme("source", name, deps)}`
  }
}
