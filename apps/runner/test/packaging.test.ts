// What `pnpm -r publish` would ship: built JavaScript with declarations, the README and package.json, and
// nothing else (no sources, no tests, no state or output files).
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..")
const publishable = ["packages", "apps"]
  .flatMap((group) => fs.readdirSync(path.join(root, group)).map((name) => path.join(root, group, name)))
  .filter((dir) => fs.existsSync(path.join(dir, "package.json")))
  .filter((dir) => (JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as { private?: boolean }).private !== true)

describe("published tarballs", () => {
  it.each(publishable.map((dir) => [path.relative(root, dir), dir]))("%s ships only built code, declarations and docs", (_, dir) => {
    const [packed] = JSON.parse(execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] })) as Array<{ files: Array<{ path: string }> }>
    const files = packed!.files.map((file) => file.path)
    expect(files).toContain("package.json")
    expect(files).toContain("dist/index.js")
    expect(files).toContain("dist/index.d.ts")
    const unexpected = files.filter((file) => !(file.startsWith("dist/") || file === "package.json" || /^(README|CHANGELOG|LICENSE)/.test(file)))
    expect(unexpected).toEqual([])
    expect(files.filter((file) => /\.test\.|tsbuildinfo|\.featbit-export|\.ndjson$/.test(file))).toEqual([])
  }, 60_000)
})
