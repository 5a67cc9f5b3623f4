// `pnpm bench`: what a step of the engine costs. `node transform.mjs` (the transform step: a typical filter and
// three computed CEL fields, aim >= 0.8) or `node transform.mjs enrich` (enrichment of every flag evaluation,
// aim >= 0.9). The engine exports production-shaped rows (generate -> file) with and without the step, in
// alternating order, each in a process of its own; the ratio of rows handled per second is the cost, and the
// difference in time per row is its cost per event.
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const here = path.dirname(fileURLToPath(import.meta.url))
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "featbit-export-transform-bench-"))
const step = process.argv[2] ?? "transform"
const aim = step === "enrich" ? 0.9 : 0.8
const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
const count = Number(process.env.BENCH_EVENTS ?? 200_000)
const measure = (mode) => JSON.parse(execFileSync(process.execPath, [path.join(here, "child.mjs"), mode, String(count), dir], { encoding: "utf8" }).trim())
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

const what = step === "enrich" ? "every flag evaluation enriched" : "a filter and three CEL fields"
console.log(`${step} cost: generate -> file, ${count.toLocaleString("en-US")} production-shaped rows, without and with ${what}, ${rounds} alternating rounds`)
const ratios = []
const costs = []
for (let round = 1; round <= rounds; round++) {
  const [plain, transformed] = round % 2 === 1 ? [measure("shaped"), measure(step)] : [measure(step), measure("shaped")].reverse()
  if (plain.lines + plain.deadLettered !== count) throw new Error(`lost events without the transform: ${JSON.stringify(plain)}`)
  if (transformed.lines + transformed.filtered + transformed.deadLettered !== count || (step === "enrich" ? transformed.enriched === 0 : transformed.filtered === 0)) {
    throw new Error(`lost events with the transform: ${JSON.stringify(transformed)}`)
  }
  const ratio = transformed.rowsPerSecond / plain.rowsPerSecond
  const microsPerEvent = ((transformed.ms - plain.ms) * 1000) / count
  ratios.push(ratio)
  costs.push(microsPerEvent)
  console.log(
    `  round ${round}: without ${plain.rowsPerSecond.toLocaleString("en-US")} rows/s, with ${transformed.rowsPerSecond.toLocaleString("en-US")} rows/s ` +
      `(${step === "enrich" ? `${transformed.enriched.toLocaleString("en-US")} enriched` : `${transformed.filtered.toLocaleString("en-US")} filtered`}), ratio ${ratio.toFixed(3)}, ${microsPerEvent.toFixed(2)} µs per event`
  )
}
fs.rmSync(dir, { recursive: true, force: true })
const ratio = median(ratios)
console.log(`  with/without throughput ratio (median): ${ratio.toFixed(3)} (aim >= ${aim.toFixed(2)}); cost per event (median): ${median(costs).toFixed(2)} µs`)
console.log(JSON.stringify({ date: new Date().toISOString(), step, ratio, ratios, microsPerEvent: median(costs) }))
if (ratio < aim) process.exitCode = 1
