// `featbit-export plugin new sink <name>` writes a package that passes its own tests right after generation.
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { beforeAll, describe, expect, it } from "vitest"
import { assertBuilt, bin, tempDir } from "./support.js"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..")
// The example community plugin's node_modules holds what a freshly generated plugin installs (core, the
// test kit, effect, vitest), as workspace links: standing in for `npm install`, which has no registry copy
// of unreleased versions to fetch.
const installed = path.join(root, "examples", "community", "sink-webhook", "node_modules")

beforeAll(() => assertBuilt())

describe("plugin new sink", () => {
  it("writes a plugin package whose conformance test passes right after generation", () => {
    const dir = path.join(tempDir(), "acme-log")
    const made = spawnSync(process.execPath, [bin, "plugin", "new", "sink", "acme-log", "--dir", dir], { encoding: "utf8" })
    expect(made.status).toBe(0)
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as {
      name: string
      exports: Record<string, unknown>
      peerDependencies: Record<string, string>
      files: Array<string>
    }
    expect(pkg.name).toBe("featbit-export-sink-acme-log")
    expect(Object.keys(pkg.peerDependencies).sort()).toEqual(["@featbit-export/core", "effect"])
    expect(pkg.files).toContain("dist")
    expect(pkg.exports["."]).toBeDefined()
    for (const file of ["README.md", "src/index.ts", "test/conformance.test.ts", "tsconfig.json"]) expect(fs.existsSync(path.join(dir, file))).toBe(true)

    fs.symlinkSync(installed, path.join(dir, "node_modules"), "dir")
    const report = path.join(dir, "results.json")
    const tested = spawnSync(
      process.execPath,
      [path.join(root, "node_modules", "vitest", "vitest.mjs"), "run", "--root", dir, "--reporter=json", `--outputFile=${report}`],
      { encoding: "utf8", cwd: dir, timeout: 120_000 }
    )
    expect(tested.status, tested.stderr).toBe(0)
    const results = JSON.parse(fs.readFileSync(report, "utf8")) as { numPassedTests: number; numFailedTests: number }
    expect(results.numFailedTests).toBe(0)
    expect(results.numPassedTests).toBeGreaterThanOrEqual(3)
  }, 150_000)

  it("refuses to write over a folder that is not empty, and a bad name", () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, "keep.txt"), "mine")
    const over = spawnSync(process.execPath, [bin, "plugin", "new", "sink", "acme", "--dir", dir], { encoding: "utf8" })
    expect(over.status).toBe(2)
    expect(over.stderr).toContain("exists and is not empty")
    expect(fs.readdirSync(dir)).toEqual(["keep.txt"])
    const bad = spawnSync(process.execPath, [bin, "plugin", "new", "sink", "Acme Sink", "--dir", path.join(dir, "x")], { encoding: "utf8" })
    expect(bad.status).toBe(2)
    expect(bad.stderr).toContain("lowercase letters")
  })
})
