// `featbit-export plugin new sink|source <name>` writes a package that installs with plain `npm install`
// and passes its own tests right after generation, outside this repository, before @featbit-export/* is on
// the npm registry: from a checkout, the scaffold installs the checkout's packages from tarballs it packs.
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { assertBuilt, cli, tempDir } from "./support.js"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..")
const coreVersion = (JSON.parse(fs.readFileSync(path.join(root, "packages", "core", "package.json"), "utf8")) as { version: string }).version

beforeAll(() => assertBuilt())

interface PackageJson {
  readonly name: string
  readonly exports: Record<string, unknown>
  readonly peerDependencies: Record<string, string>
  readonly devDependencies: Record<string, string>
  readonly overrides?: Record<string, string>
  readonly files: Array<string>
}

const scaffold = async (kind: "sink" | "source", dir: string, name: string, extra: ReadonlyArray<string> = []) => {
  const made = await cli(["plugin", "new", kind, name, "--dir", dir, ...extra], { cwd: path.dirname(dir) })
  expect(made.code, made.stderr).toBe(0)
  return JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as PackageJson
}

/**
 * The environment of a person's shell: no npm_* or pnpm variables of the test runner's own npm or pnpm
 * (which set the package, the lifecycle and their configuration), except where the registry and the cache are.
 */
const shellEnv = (): NodeJS.ProcessEnv => {
  const keep = new Set(["npm_config_registry", "npm_config_cache", "npm_config_userconfig"])
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => keep.has(key.toLowerCase()) || !/^(npm_|pnpm_)/i.test(key)))
}

/** Runs npm in `dir`, asynchronously: a worker blocked for a minute loses its connection to vitest. */
const npm = (dir: string, args: ReadonlyArray<string>): Promise<{ code: number | null; output: string; seconds: number }> =>
  new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn("npm", args, { cwd: dir, env: shellEnv(), shell: process.platform === "win32", stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => void (output += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => void (output += chunk))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, output, seconds: (performance.now() - started) / 1000 }))
  })

/** `npm test` and `npm run build`, each of which must pass: the scaffold as its author meets it. */
const testAndBuild = async (dir: string, expectedTests: number) => {
  const test = await npm(dir, ["test", "--", "--reporter=json", "--outputFile=results.json"])
  expect(test.code, test.output).toBe(0)
  const results = JSON.parse(fs.readFileSync(path.join(dir, "results.json"), "utf8")) as { numPassedTests: number; numFailedTests: number }
  expect(results.numFailedTests).toBe(0)
  expect(results.numPassedTests).toBeGreaterThanOrEqual(expectedTests)
  const build = await npm(dir, ["run", "build"])
  expect(build.code, build.output).toBe(0)
  expect(fs.existsSync(path.join(dir, "dist", "index.js"))).toBe(true)
  return { test: test.seconds, build: build.seconds }
}

const checkLocalDependencies = (dir: string, pkg: PackageJson) => {
  // Outside the repository: nothing of the checkout's node_modules can be found from there.
  expect(path.relative(root, dir).startsWith("..")).toBe(true)
  expect(Object.keys(pkg.peerDependencies).sort()).toEqual(["@featbit-export/core", "effect"])
  expect(pkg.peerDependencies["@featbit-export/core"]).toBe(`^${coreVersion}`)
  expect(pkg.devDependencies["@featbit-export/core"]).toBe(`file:vendor/featbit-export-core-${coreVersion}.tgz`)
  expect(pkg.devDependencies["@featbit-export/testkit"]).toBe(`file:vendor/featbit-export-testkit-${coreVersion}.tgz`)
  expect(pkg.overrides).toEqual({ "@featbit-export/source-generate": `file:vendor/featbit-export-source-generate-${coreVersion}.tgz` })
  expect(fs.readdirSync(path.join(dir, "vendor")).sort()).toEqual(
    ["core", "source-generate", "testkit"].map((name) => `featbit-export-${name}-${coreVersion}.tgz`)
  )
  expect(pkg.files).not.toContain("vendor")
  expect(pkg.exports["."]).toBeDefined()
  expect(fs.readFileSync(path.join(dir, "README.md"), "utf8")).toContain("switch to the registry")
}

// One full `npm install` (about 20-30 s, more on a busy machine): the sink's dependencies are the source's
// to the letter (checked), so the sink tests on the source's installed node_modules instead of a second one.
describe("plugin new, from a checkout", () => {
  const outside = fs.mkdtempSync(path.join(os.tmpdir(), "featbit-export-scaffold-"))
  // An installed node_modules takes a while to remove on a busy machine.
  afterAll(() => fs.promises.rm(outside, { recursive: true, force: true }), 60_000)
  const sourceDir = path.join(outside, "acme-rows")
  let sourcePkg: PackageJson | undefined

  it("writes a source package that installs with plain npm install outside the repository, and passes its tests and build", async () => {
    const pkg = await scaffold("source", sourceDir, "acme-rows")
    expect(pkg.name).toBe("featbit-export-source-acme-rows")
    checkLocalDependencies(sourceDir, pkg)
    expect(fs.readFileSync(path.join(sourceDir, "test", "conformance.test.ts"), "utf8")).toContain("sourceConformance(")
    const install = await npm(sourceDir, ["install"])
    expect(install.code, install.output).toBe(0)
    // Our packages came from the tarballs, not from the registry (which has no such versions yet).
    const lock = JSON.parse(fs.readFileSync(path.join(sourceDir, "package-lock.json"), "utf8")) as { packages: Record<string, { resolved?: string; version?: string }> }
    for (const name of ["core", "testkit", "source-generate"]) {
      const entry = lock.packages[`node_modules/@featbit-export/${name}`]
      expect(entry?.resolved, name).toBe(`file:vendor/featbit-export-${name}-${coreVersion}.tgz`)
      expect(entry?.version, name).toBe(coreVersion)
    }
    // The suite's six cases and the template's own.
    const seconds = await testAndBuild(sourceDir, 7)
    console.log(`source scaffold: npm install ${install.seconds.toFixed(1)} s, npm test ${seconds.test.toFixed(1)} s, npm run build ${seconds.build.toFixed(1)} s`)
    sourcePkg = pkg
  }, 300_000)

  it("writes a sink package with the same dependencies, whose conformance suite passes on them and which builds", async () => {
    if (sourcePkg === undefined) throw new Error("needs the source package installed by the test before it")
    const dir = path.join(outside, "acme-log")
    const pkg = await scaffold("sink", dir, "acme-log")
    expect(pkg.name).toBe("featbit-export-sink-acme-log")
    checkLocalDependencies(dir, pkg)
    expect([pkg.devDependencies, pkg.overrides, pkg.peerDependencies]).toEqual([sourcePkg.devDependencies, sourcePkg.overrides, sourcePkg.peerDependencies])
    for (const name of fs.readdirSync(path.join(dir, "vendor"))) {
      expect(fs.readFileSync(path.join(dir, "vendor", name)).equals(fs.readFileSync(path.join(sourceDir, "vendor", name))), name).toBe(true)
    }
    fs.symlinkSync(path.join(sourceDir, "node_modules"), path.join(dir, "node_modules"), "dir")
    const seconds = await testAndBuild(dir, 3)
    console.log(`sink scaffold: npm test ${seconds.test.toFixed(1)} s, npm run build ${seconds.build.toFixed(1)} s`)
  }, 120_000)

  it("depends on the registry's versions with --registry, and packs nothing", async () => {
    for (const kind of ["sink", "source"] as const) {
      const dir = path.join(tempDir(), "acme")
      const pkg = await scaffold(kind, dir, "acme", ["--registry"])
      expect(pkg.devDependencies["@featbit-export/core"]).toBe(`^${coreVersion}`)
      expect(pkg.devDependencies["@featbit-export/testkit"]).toBe(`^${coreVersion}`)
      expect(pkg.overrides).toBeUndefined()
      expect(fs.existsSync(path.join(dir, "vendor"))).toBe(false)
      expect(fs.readFileSync(path.join(dir, "README.md"), "utf8")).toContain("come from the npm registry")
    }
  })
})

describe("plugin new refuses", () => {
  it("to write over a folder that is not empty, a bad name, and an unknown kind", async () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, "keep.txt"), "mine")
    const over = await cli(["plugin", "new", "sink", "acme", "--dir", dir], { cwd: dir })
    expect(over.code).toBe(2)
    expect(over.stderr).toContain("exists and is not empty")
    expect(fs.readdirSync(dir)).toEqual(["keep.txt"])
    const bad = await cli(["plugin", "new", "source", "Acme Source", "--dir", path.join(dir, "x")], { cwd: dir })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("lowercase letters")
    const kind = await cli(["plugin", "new", "transform", "acme", "--dir", path.join(dir, "y")], { cwd: dir })
    expect(kind.code).toBe(2)
    expect(kind.stderr).toContain("plugin new sink|source <name>")
    expect(fs.readdirSync(dir)).toEqual(["keep.txt"])
  })
})
