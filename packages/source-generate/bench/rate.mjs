// Generation rate on one core. Build first (npx tsc -b), then: node bench/rate.mjs [rows]
// "rows only" iterates the rows; "properties flattened" also reads the last character of each
// properties string, which forces V8 to flatten the concatenated text, as any consumer will.
import { decodeFeatBitRow } from "@featbit-export/core"
import { generateRows } from "../dist/index.js"

const count = Number(process.argv[2] ?? 1_000_000)
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

const measure = (label, consume) => {
  const rates = []
  for (let run = 0; run < 5; run++) {
    const started = performance.now()
    let sink = 0
    for (const row of generateRows({ count, seed: run + 1 })) sink += consume(row)
    rates.push(count / ((performance.now() - started) / 1000))
    if (sink === -1) console.log(sink)
  }
  console.log(`${label}: median ${Math.round(median(rates)).toLocaleString("en")} rows/s over 5 runs of ${count.toLocaleString("en")}`)
}

measure("rows only", (row) => row.id.length)
measure("properties flattened", (row) => row.properties.charCodeAt(row.properties.length - 1))
measure("decoded with decodeFeatBitRow", (row) => (decodeFeatBitRow(row)._tag === "Right" ? 1 : 0))
