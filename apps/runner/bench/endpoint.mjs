// `pnpm bench`: what the HTTP endpoint costs. The built CLI exports generate -> file twice per round, once
// without --listen and once with it while a scraper fetches /metrics and /status every second, in
// alternating order; the ratio of their throughputs (from each run's own "done" record, so start-up is not
// counted) is the cost. Aim: under 5%, i.e. a ratio of at least 0.95.
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const here = path.dirname(fileURLToPath(import.meta.url))
const bin = path.join(here, "..", "dist", "bin.js")
const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
const count = Number(process.env.BENCH_EVENTS ?? 300_000)
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

// Production-shaped: 50,000 users, stamped over the last hours up to about now, one row in 997 malformed.
const start = new Date(Date.now() - 4 * 3_600_000).toISOString().replace("Z", "000Z")
const pipeline = (out) => `pipelines:
  - name: bench
    source: { type: generate, count: ${count}, seed: 11, users: 50000, malformedEvery: 997, start: "${start}" }
    sink: { type: file, path: ${out} }
`

/** One `run --once`; with `scrape`, an endpoint scraped every second. Resolves to the done record and the scrape count. */
const exportOnce = (scrape) =>
  new Promise((resolve, reject) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "featbit-export-endpoint-bench-"))
    fs.writeFileSync(path.join(dir, "pipeline.yaml"), pipeline("out/events.ndjson"))
    const args = ["run", "pipeline.yaml", "--once", ...(scrape ? ["--listen", "127.0.0.1:0"] : [])]
    const child = spawn(process.execPath, [bin, ...args], { cwd: dir, stdio: ["ignore", "ignore", "pipe"] })
    let stderr = ""
    let scrapes = 0
    let timer
    child.stderr.setEncoding("utf8").on("data", (chunk) => {
      stderr += chunk
      const listening = stderr.match(/"message":"listening","url":"([^"]+)"/)
      if (scrape && listening !== null && timer === undefined) {
        const scrapeOnce = () =>
          Promise.all([fetch(`${listening[1]}/metrics`).then((r) => r.text()), fetch(`${listening[1]}/status`).then((r) => r.text())]).then(
            () => void (scrapes += 1),
            () => undefined
          )
        void scrapeOnce()
        timer = setInterval(scrapeOnce, 1000)
      }
    })
    child.on("error", reject)
    child.on("close", (code) => {
      clearInterval(timer)
      fs.rmSync(dir, { recursive: true, force: true })
      const done = stderr
        .split("\n")
        .filter((line) => line.includes('"message":"done"'))
        .map((line) => JSON.parse(line))[0]
      if (code !== 0 || done === undefined || done.exported + done.deadLettered !== count || done.deadLettered === 0) return reject(new Error(`run failed (exit ${code}): ${stderr.slice(-500)}`))
      resolve({ eventsPerSecond: done.eventsPerSecond, scrapes })
    })
  })

console.log(`HTTP endpoint cost: generate -> file, ${count.toLocaleString("en-US")} events, without and with /metrics and /status scraped every second, ${rounds} alternating rounds`)
const ratios = []
for (let round = 1; round <= rounds; round++) {
  const order = round % 2 === 1 ? [false, true] : [true, false]
  const results = {}
  for (const scrape of order) results[scrape ? "with" : "without"] = await exportOnce(scrape)
  const ratio = results.with.eventsPerSecond / results.without.eventsPerSecond
  ratios.push(ratio)
  console.log(
    `  round ${round}: without ${results.without.eventsPerSecond.toLocaleString("en-US")} ev/s, with ${results.with.eventsPerSecond.toLocaleString("en-US")} ev/s (${results.with.scrapes} scrapes), ratio ${ratio.toFixed(3)}`
  )
}
const ratio = median(ratios)
console.log(`  with/without throughput ratio (median): ${ratio.toFixed(3)} (aim >= 0.95)`)
console.log(JSON.stringify({ date: new Date().toISOString(), endpointRatio: ratio, ratios }))
if (ratio < 0.95) process.exitCode = 1
