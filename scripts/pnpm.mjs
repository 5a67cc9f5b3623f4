#!/usr/bin/env node
// Runs the pinned pnpm with the given arguments, so that a machine with only Node.js and npm can use the
// workspace: corepack is not relied on (it fails signature checks on some machines); a pnpm 10 already on
// PATH is used as is, otherwise npx fetches the pinned version from the npm registry.
import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"

const pinned = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).packageManager
const version = pinned.split("@")[1]
const args = process.argv.slice(2)

const onPath = spawnSync("pnpm", ["--version"], { encoding: "utf8", shell: false })
const usable = onPath.status === 0 && onPath.stdout.trim().split(".")[0] === version.split(".")[0]
const [command, prefix] = usable ? ["pnpm", []] : ["npx", ["-y", `pnpm@${version}`]]
const run = spawnSync(command, [...prefix, ...args], { stdio: "inherit", shell: false })
process.exit(run.status ?? 1)
