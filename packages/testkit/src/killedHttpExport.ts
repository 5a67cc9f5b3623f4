// The SIGKILL test of a sink that posts to an HTTP destination (Amplitude, Mixpanel, PostHog): the built runner
// exports into the destination's receiver double, is killed three times with requests in flight, then runs to
// the end. The receiver keeps what the destination would keep after its own dedupe, so an event re-sent under
// another dedupe key would be stored twice and show.
import { Timestamp } from "@featbit-export/core"
import { generateRows } from "@featbit-export/source-generate"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { expect } from "vitest"
import { killDuringExport, readCheckpoint, startRunner, writeKillPipeline } from "./runnerKills.js"

/** What the destination kept, as its receiver reports it. */
export interface KeptByDestination {
  /** Events stored once the destination's own dedupe has run (one per distinct dedupe key). */
  readonly stored: number
  /** The FeatBit ids among them. */
  readonly ids: ReadonlySet<string>
  /** How many copies of each FeatBit id arrived, the first included (duplicates the dedupe dropped or merged). */
  readonly copies: ReadonlyMap<string, number>
}

export const killedHttpExport = async (options: {
  /** The sink's package folder under packages/, and the plugin it exports. */
  readonly sinkPackage: string
  readonly sinkExport: string
  /** The sink's keys in YAML, indented for `sink:` (6 spaces); credentials as ${VAR} from `env`. */
  readonly sinkKeys: string
  readonly env: Record<string, string>
  readonly kept: () => KeptByDestination
  readonly count?: number
}) => {
  const count = options.count ?? 60_000
  const seed = Number(process.env["KILL_SEED"] ?? Math.floor(Math.random() * 2 ** 31))
  // Production-shaped timestamps: the export starts an hour ago (the receivers refuse times far from now).
  const start = new Date(Date.now() - 3_600_000).toISOString()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `featbit-export-kill-${options.sinkPackage}-`))
  try {
    writeKillPipeline(dir, { ...options, count, start, batchSize: 2_000 })
    // Kills after at most 8,000 more committed events and 300 ms leave the third well before the end at these
    // sinks' pace in a child runner.
    const kills = await killDuringExport({ dir, seed, spread: 8_000, maxDelayMs: 300, env: options.env })
    const last = startRunner(dir, ["run", "pipeline.yaml", "--once"], options.env)
    const end = await last.finished
    const schedule = `seed ${seed}, start ${start}, kills ${JSON.stringify(kills)}`
    expect(end.code, `${schedule}\n${last.stderr()}`).toBe(0)

    const kept = options.kept()
    const source = [...generateRows({ count, seed: 7, start: Timestamp.fromMillis(Date.parse(start)) })].map((row) => String(row.id))
    const missing = source.filter((id) => !kept.ids.has(id))
    const known = new Set(source)
    // The generator emits in cursor order, so the events committed before a kill are the first `committed`: the
    // run after it resumes past them, and an event may come again once per kill committed before it, no more.
    const resentWithoutCause = source.filter((id, i) => (kept.copies.get(id) ?? 0) - 1 > kills.filter((kill) => kill.committed <= i).length)
    const duplicates = [...kept.copies.values()].reduce((sum, copies) => sum + copies - 1, 0)
    console.log(`${options.sinkPackage} SIGKILL test: ${schedule}; ${kept.stored} stored, ${duplicates} duplicates dropped by the dedupe key`)
    expect(kills.every((kill) => kill.committed < count), schedule).toBe(true)
    expect(missing.slice(0, 5), schedule).toEqual([])
    expect([...kept.ids].filter((id) => !known.has(id)), `${schedule}: ids never generated`).toEqual([])
    // One stored event per FeatBit event: every re-send after a kill carried the first copy's dedupe key.
    expect(kept.stored, schedule).toBe(count)
    expect(readCheckpoint(dir)?.exported, schedule).toBe(count)
    expect(resentWithoutCause.slice(0, 5), `${schedule}: sent again though committed before every kill since`).toEqual([])
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** How many times each value occurs. */
export const countBy = (values: Iterable<string>): Map<string, number> => {
  const counts = new Map<string, number>()
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1)
  return counts
}
