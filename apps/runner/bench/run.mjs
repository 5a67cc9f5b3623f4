// `pnpm bench`: the engine's overhead and memory, as ratios against a baseline measured in the same run
// (these machines are shared and noisy, so absolute numbers mean little; ratios do).
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const here = path.dirname(fileURLToPath(import.meta.url))
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "featbit-export-bench-"))
const measure = (mode, count) => JSON.parse(execFileSync(process.execPath, [path.join(here, "child.mjs"), mode, String(count), dir], { encoding: "utf8" }).trim())
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
const throughputCount = Number(process.env.BENCH_EVENTS ?? 200_000)
console.log(`engine overhead: generate -> file sink vs a bare loop, ${throughputCount.toLocaleString("en-US")} events, ${rounds} alternating rounds`)
const ratios = []
for (let round = 1; round <= rounds; round++) {
  const bare = measure("bare", throughputCount)
  const engine = measure("engine", throughputCount)
  if (engine.lines !== throughputCount || bare.lines !== throughputCount) throw new Error(`lost events: engine ${engine.lines}, bare ${bare.lines}`)
  ratios.push(engine.eventsPerSecond / bare.eventsPerSecond)
  console.log(`  round ${round}: bare ${bare.eventsPerSecond.toLocaleString("en-US")} ev/s, engine ${engine.eventsPerSecond.toLocaleString("en-US")} ev/s, ratio ${(engine.eventsPerSecond / bare.eventsPerSecond).toFixed(2)}`)
}
const ratio = median(ratios)
console.log(`  engine/bare throughput ratio (median): ${ratio.toFixed(2)} (aim >= 0.50)`)

console.log("peak RSS of the engine (generate -> file sink)")
const small = measure("engine", 100_000)
const large = measure("engine", 1_000_000)
const growth = large.maxRssMiB / small.maxRssMiB
console.log(`  100k events: ${small.maxRssMiB} MiB, 1M events: ${large.maxRssMiB} MiB, ratio ${growth.toFixed(2)} (aim: about 1, memory does not grow with events)`)
fs.rmSync(dir, { recursive: true, force: true })

const results = { date: new Date().toISOString(), throughputRatio: ratio, ratios, rss100kMiB: small.maxRssMiB, rss1MMiB: large.maxRssMiB, rssGrowth: growth }
console.log(JSON.stringify(results))
if (ratio < 0.5 || growth > 1.5) process.exitCode = 1
