#!/usr/bin/env node
// The README's demo: export the demo pipeline from the start, into a fresh output file, so that running
// it again shows the same thing. (A real pipeline keeps its checkpoint and resumes; the demo resets it.)
import { spawnSync } from "node:child_process"
import { rmSync } from "node:fs"

const cli = (...args) => spawnSync(process.execPath, ["apps/runner/dist/bin.js", ...args], { stdio: "inherit" }).status ?? 1
const file = "examples/demo.yaml"
rmSync("examples/out/demo.ndjson", { force: true })
rmSync("examples/.featbit-export", { recursive: true, force: true })
const status = cli("run", file, "--once")
if (status === 0) {
  console.log("\nThe events are in examples/out/demo.ndjson, one JSON object per line. Next:")
  console.log(`  pnpm featbit-export preview ${file} --limit 3     # what the pipeline would send`)
  console.log(`  pnpm featbit-export checkpoints ${file}            # where it stopped`)
}
process.exit(status)
