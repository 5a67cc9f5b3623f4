/**
 * The files of a new plugin package, shared by sinks and sources: package.json, tsconfig, the vitest config,
 * and the README's word on where the featbit-export packages come from. Standalone: the package builds and
 * tests outside this repository. The sink itself is below; the source is in SourceTemplate.ts.
 */
export type PluginKind = "source" | "sink"

/** Where the tarballs of a checkout's packages go in a scaffolded plugin (left out of what it publishes). */
export const VENDOR = "vendor"

export interface TemplateDependencies {
  /** The version of `@featbit-export/core` (and of the test kit, released with it): the peer range users need. */
  readonly core: string
  readonly effect: string
  /**
   * What the plugin builds and tests against: the registry's published versions, or tarballs of a
   * checkout's packages in `vendor/` (file names by package name), for before they are published.
   */
  readonly from: { readonly registry: true } | { readonly registry: false; readonly tarballs: ReadonlyMap<string, string> }
}

export const packageNameOf = (kind: PluginKind, name: string): string => `featbit-export-${kind}-${name}`

const CORE = "@featbit-export/core"
const TESTKIT = "@featbit-export/testkit"

/** devDependencies on core and the test kit, and `overrides` for the workspace packages the test kit uses. */
const featbitDependencies = (deps: TemplateDependencies): { dev: Record<string, string>; overrides?: Record<string, string> } => {
  if (deps.from.registry) return { dev: { [CORE]: `^${deps.core}`, [TESTKIT]: `^${deps.core}` } }
  const tarballs = deps.from.tarballs
  const file = (name: string) => `file:${VENDOR}/${tarballs.get(name)}`
  // The test kit's own dependency on source-generate says ^0.1.0, which the registry cannot answer: an
  // override sends it to the tarball too. Core and the test kit are direct dependencies, which npm forbids
  // to override with another spec, and need none.
  const others = [...tarballs.keys()].filter((name) => name !== CORE && name !== TESTKIT)
  return {
    dev: { [CORE]: file(CORE), [TESTKIT]: file(TESTKIT) },
    ...(others.length > 0 ? { overrides: Object.fromEntries(others.map((name) => [name, file(name)])) } : {})
  }
}

/** package.json, tsconfig.json, vitest.config.ts and .gitignore of a plugin package. */
export const packageFiles = (kind: PluginKind, name: string, description: string, deps: TemplateDependencies): Record<string, string> => {
  const { dev, overrides } = featbitDependencies(deps)
  const packageJson = {
    name: packageNameOf(kind, name),
    version: "0.1.0",
    description,
    license: "MIT",
    type: "module",
    engines: { node: ">=20.19" },
    main: "./dist/index.js",
    types: "./dist/index.d.ts",
    exports: { ".": { types: "./dist/index.d.ts", default: "./dist/index.js" }, "./package.json": "./package.json" },
    files: ["dist", "README.md"],
    keywords: ["featbit-export", "featbit-export-plugin", "featbit"],
    scripts: { build: "tsc -p tsconfig.json", test: "vitest run" },
    // Peers: the plugin must share the runner's core and effect (the runner checks its errors and schemas).
    peerDependencies: { [CORE]: `^${deps.core}`, effect: `^${deps.effect}` },
    devDependencies: {
      ...dev,
      "@types/node": "^20.19.0",
      effect: `^${deps.effect}`,
      typescript: "~5.9.3",
      vitest: "~3.2.4"
    },
    ...(overrides !== undefined ? { overrides } : {})
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
    ".gitignore": "node_modules/\ndist/\n"
  }
}

/** The README's section on where `@featbit-export/core` and the test kit come from, and how to switch. */
export const dependenciesReadme = (kind: PluginKind, name: string, deps: TemplateDependencies): string =>
  deps.from.registry
    ? `## Dependencies

\`@featbit-export/core\` and \`@featbit-export/testkit\` come from the npm registry (\`^${deps.core}\`). Before they
are published there, generate the package from a checkout of featbit-export without \`--registry\`: it then
packs the checkout's packages into \`${VENDOR}/\` and installs them from there.
`
    : `## Dependencies

\`@featbit-export/core\` and \`@featbit-export/testkit\` were not on the npm registry when this package was
generated, so it installs them from tarballs packed from the featbit-export checkout it was generated in:
\`${VENDOR}/\` holds them (with ${[...deps.from.tarballs.keys()].filter((n) => n !== CORE && n !== TESTKIT).map((n) => `\`${n}\``).join(", ") || "nothing else"}, which the test kit uses),
and \`package.json\` names them with \`file:\` specs (\`overrides\` for the test kit's own). \`npm install\`
fetches everything else from the registry. \`${VENDOR}/\` is not published (\`files\` leaves it out), and
\`peerDependencies\` already name the registry versions users' runners provide.

**Once they are published, switch to the registry**: in \`package.json\` set \`@featbit-export/core\` and
\`@featbit-export/testkit\` under \`devDependencies\` to \`^${deps.core}\` and delete \`overrides\`, then
\`rm -rf ${VENDOR} node_modules package-lock.json && npm install\`. (\`featbit-export plugin new ${kind} ${name}
--registry\` writes the package that way from the start.) To test against a newer checkout instead, generate
the plugin again into a scratch folder, copy its \`${VENDOR}/\` over this one's, and
\`rm -rf node_modules package-lock.json && npm install\`.
`

export const camel = (name: string): string =>
  name
    .split(/[^A-Za-z0-9]+/)
    .filter((part) => part !== "")
    .map((part) => part[0]!.toUpperCase() + part.slice(1))
    .join("")

/**
 * A new sink plugin package: a working sink (it appends NDJSON to a file, fsynced before it acknowledges)
 * that an author replaces with calls to their destination, its config schema, a README, and a test that
 * runs the test kit's conformance suite.
 */
export const sinkTemplate = (name: string, deps: TemplateDependencies): Record<string, string> => {
  const packageName = packageNameOf("sink", name)
  return {
    ...packageFiles("sink", name, `A featbit-export sink: ${name}`, deps),
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

${dependenciesReadme("sink", name, deps)}`
  }
}
