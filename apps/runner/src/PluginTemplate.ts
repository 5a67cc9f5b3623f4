/**
 * The files of a new sink plugin package: a working sink (it appends NDJSON to a file, fsynced before it
 * acknowledges) that an author replaces with calls to their destination, its config schema, a README, and a
 * test that runs the test kit's conformance suite. Standalone: it builds and tests outside this repository.
 */
export interface TemplateVersions {
  readonly core: string
  readonly testkit: string
  readonly effect: string
}

export const sinkTemplate = (name: string, versions: TemplateVersions): Record<string, string> => {
  const packageName = `featbit-export-sink-${name}`
  const packageJson = {
    name: packageName,
    version: "0.1.0",
    description: `A featbit-export sink: ${name}`,
    license: "MIT",
    type: "module",
    engines: { node: ">=20.19" },
    main: "./dist/index.js",
    types: "./dist/index.d.ts",
    exports: { ".": { types: "./dist/index.d.ts", default: "./dist/index.js" }, "./package.json": "./package.json" },
    files: ["dist", "README.md"],
    keywords: ["featbit-export", "featbit-export-plugin", "featbit"],
    scripts: { build: "tsc -p tsconfig.json", test: "vitest run" },
    peerDependencies: { "@featbit-export/core": `^${versions.core}`, effect: `^${versions.effect}` },
    devDependencies: {
      "@featbit-export/core": `^${versions.core}`,
      "@featbit-export/testkit": `^${versions.testkit}`,
      "@types/node": "^20.19.0",
      effect: `^${versions.effect}`,
      typescript: "~5.9.3",
      vitest: "~3.2.4"
    }
  }
  const tsconfig = {
    compilerOptions: {
      target: "ES2022",
      module: "NodeNext",
      moduleResolution: "NodeNext",
      strict: true,
      exactOptionalPropertyTypes: true,
      declaration: true,
      outDir: "dist",
      rootDir: "src",
      skipLibCheck: true
    },
    include: ["src"]
  }
  return {
    "package.json": JSON.stringify(packageJson, null, 2) + "\n",
    "tsconfig.json": JSON.stringify(tsconfig, null, 2) + "\n",
    "vitest.config.ts": `import { defineConfig } from "vitest/config"

export default defineConfig({ test: { include: ["test/**/*.test.ts"], testTimeout: 30_000 } })
`,
    "src/index.ts": `import * as fs from "node:fs/promises"
import * as path from "node:path"
import { type Sink, type SinkBatch, SinkError, accepted, defineSink } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

/**
 * The sink's keys. Describe every one: the runner validates pipeline files with this schema (errors point at
 * the line) and turns it into the JSON Schema editors use. Declare secrets with Schema.Redacted(Schema.String).
 */
export const Config = Schema.Struct({
  path: Schema.NonEmptyString.annotations({
    description: "NDJSON file the events are appended to, relative to the pipeline file (replace with your destination's settings)"
  })
})

/**
 * \`use: "${packageName}"\` in a pipeline file. Replace the body of \`write\` with a call to your destination:
 * succeed only once it has durably accepted every event, send each event's \`id\` as its idempotency key, fail
 * with SinkError.transient (network, 5xx, 429 with retryAfter) or SinkError.fatal (bad credentials), and return
 * the events it refuses for good in \`rejected\`.
 */
export const ${camel(name)}Sink = defineSink({
  type: "${name}",
  description: "${name}: appends events as NDJSON to a file",
  config: Config,
  make: (config, context) =>
    Effect.sync((): Sink => {
      const file = path.resolve(context.baseDir, config.path)
      const write = (batch: SinkBatch) =>
        Effect.tryPromise({
          try: async () => {
            await fs.mkdir(path.dirname(file), { recursive: true })
            const handle = await fs.open(file, "a")
            try {
              await handle.writeFile(batch.events.map((event) => JSON.stringify(event) + "\\n").join(""))
              await handle.sync()
            } finally {
              await handle.close()
            }
          },
          catch: (cause) => SinkError.transient("${name}", \`cannot write \${file}: \${(cause as Error).message}\`, { cause })
        }).pipe(Effect.as(accepted))
      return { write, maxInFlight: 1 }
    })
})

export default ${camel(name)}Sink
`,
    "test/conformance.test.ts": `import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { sinkConformance } from "@featbit-export/testkit"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import Sink from "../src/index.js"

// The test kit's suite: acknowledged means durable, ids kept, commits only over acknowledged batches, a
// graceful stop. Declare \`supports\` (and return injectTransient / injectFatal / poison) once your destination's
// double can fail on demand.
sinkConformance("${name}", {
  make: () =>
    Effect.gen(function* () {
      const dir = yield* Effect.acquireRelease(
        Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "${name}-"))),
        (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
      )
      const sink = yield* Sink.make(Schema.decodeUnknownSync(Sink.config)({ path: "events.ndjson" }), { pipeline: "conformance", baseDir: dir })
      const delivered = Effect.promise(async () => {
        const text = await fs.readFile(path.join(dir, "events.ndjson"), "utf8").catch(() => "")
        return text.split("\\n").filter((line) => line !== "").map((line) => (JSON.parse(line) as { id: string }).id)
      })
      return { sink, delivered: () => delivered }
    })
})
`,
    "README.md": `# ${packageName}

A [featbit-export](https://github.com/featbit) sink plugin. Install it beside your pipeline file and name it
by package:

\`\`\`yaml
pipelines:
  - name: to-${name}
    source: { type: clickhouse, url: http://localhost:8123 }
    sink:
      use: "${packageName}"
      path: out/events.ndjson
\`\`\`

Develop: \`npm install\`, \`npm test\` (the test kit's conformance suite), \`npm run build\`. Replace \`write\` in
\`src/index.ts\` with your destination, keeping its rules: acknowledge only what is durably accepted, send each
event's \`id\` as the idempotency key, and classify failures as transient or fatal.
`
  }
}

const camel = (name: string): string =>
  name
    .split(/[^A-Za-z0-9]+/)
    .filter((part) => part !== "")
    .map((part) => part[0]!.toUpperCase() + part.slice(1))
    .join("")
