#!/usr/bin/env node
// The README's demo, on the embedded default: an embedded ClickHouse (chDB) with FeatBit Pro's real
// `events` table, filled with realistic events for two environments, then exported (one environment) to
// NDJSON by the real CLI, with its progress line and summary. Run from the repository root:
// `npm run demo` (installs and builds first), or `node examples/demo.mjs` after a build.
import { spawnSync } from "node:child_process"
import { rmSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { createEmbeddedClient, createFeatBitEventsTable, insertFeatBitRows } from "@featbit-export/source-clickhouse"
import { defaultEnvIds, generateRows } from "@featbit-export/source-generate"

const examples = path.dirname(fileURLToPath(import.meta.url))
// DEMO_DIR: a folder holding a copy of demo.yaml, so tests can run the demo without touching this one.
const here = path.resolve(process.env.DEMO_DIR ?? examples)
const count = Number(process.env.DEMO_EVENTS ?? 200_000)
const database = path.join(here, ".demo", "clickhouse")
const pipelineFile = path.join(here, "demo.yaml")

// Start from nothing each time, so the demo always shows a full export.
rmSync(path.join(here, ".demo"), { recursive: true, force: true })
rmSync(path.join(here, ".featbit-export"), { recursive: true, force: true })
rmSync(path.join(here, "out", "demo.ndjson"), { force: true })

const started = Date.now()
const client = await createEmbeddedClient(database)
await createFeatBitEventsTable(client)
const inserted = await insertFeatBitRows(client, generateRows({ count, seed: 42, envIds: defaultEnvIds }))
await client.close()
console.log(`created an embedded ClickHouse in ${path.relative(process.cwd(), database)} with FeatBit's events table and ${inserted.toLocaleString("en-US")} events in two environments (${((Date.now() - started) / 1000).toFixed(1)} s)`)
console.log(`exporting environment ${defaultEnvIds[1]} to NDJSON:\n`)

const cli = path.join(examples, "..", "apps", "runner", "dist", "bin.js")
const run = spawnSync(process.execPath, [cli, "run", pipelineFile, "--once"], { stdio: "inherit" })
if (run.status === 0) {
  const relative = (p) => path.relative(process.cwd(), p)
  console.log(`\nThe events are in ${relative(path.join(here, "out", "demo.ndjson"))}, one JSON object per line. Next:`)
  console.log(`  npm run featbit-export -- preview ${relative(pipelineFile)} --limit 3   # what the pipeline would send next`)
  console.log(`  npm run featbit-export -- checkpoints ${relative(pipelineFile)}          # where it stopped`)
}
process.exit(run.status ?? 1)
