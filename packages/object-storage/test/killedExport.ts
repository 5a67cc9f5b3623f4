// The SIGKILL test of an object-storage sink, shared by sink-s3 and sink-azure-blob: a 200,000-event export by
// the built runner, killed three times, then run to the end; every object is read back as a loader would.
import { Timestamp } from "@featbit-export/core"
import { readObjectBack } from "@featbit-export/object-storage"
import { generateRows } from "@featbit-export/source-generate"
import { killDuringExport, startRunner, writeKillPipeline } from "@featbit-export/testkit"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { expect } from "vitest"

export const KILLED_EXPORT_EVENTS = 200_000

export const killedExport = async (options: {
  /** The sink's package folder under packages/, and the plugin it exports. */
  readonly sinkPackage: string
  readonly sinkExport: string
  /** The sink's keys in YAML, indented for `sink:` (6 spaces). */
  readonly sinkKeys: string
  /** Every object written, with its bytes. */
  readonly objects: () => Promise<ReadonlyArray<readonly [string, Uint8Array]>>
  readonly describeLeftovers?: () => Promise<string>
}) => {
  const seed = Number(process.env["KILL_SEED"] ?? Math.floor(Math.random() * 2 ** 31))
  // Production-shaped timestamps: the export starts an hour ago.
  const start = new Date(Date.now() - 3_600_000).toISOString()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `featbit-export-${options.sinkPackage}-`))
  try {
    writeKillPipeline(dir, { ...options, count: KILLED_EXPORT_EVENTS, start, batchSize: 5_000 })
    // Object sinks run at ~60,000-85,000 ev/s: kills after at most 30,000 more events and 400 ms leave the third
    // kill well before the end (with the default 50,000 and 600 ms a slow CI run once finished before it).
    const kills = await killDuringExport({ dir, seed, spread: 30_000, maxDelayMs: 400 })
    const last = startRunner(dir, ["run", "pipeline.yaml", "--once"])
    const end = await last.finished
    const schedule = `seed ${seed}, start ${start}, kills ${JSON.stringify(kills)}`
    expect(end.code, `${schedule}\n${last.stderr()}`).toBe(0)

    const objects = await options.objects()
    const read = await Promise.all(objects.map(([key, body]) => readObjectBack(key, body)))
    const torn = read.filter((object) => !object.whole).map((object) => object.key)
    const seen = new Map<string, number>()
    for (const object of read) for (const id of object.ids) seen.set(id, (seen.get(id) ?? 0) + 1)
    const source = [...generateRows({ count: KILLED_EXPORT_EVENTS, seed: 7, start: Timestamp.fromMillis(Date.parse(start)) })].map((row) => String(row.id))
    const missing = source.filter((id) => !seen.has(id))
    const twice = [...seen.values()].filter((times) => times > 1).length
    console.log(
      `${options.sinkPackage} SIGKILL test: ${schedule}; ${objects.length} objects, ${seen.size} distinct ids, ${twice} in two objects${(await options.describeLeftovers?.()) ?? ""}`
    )
    expect(kills.every((kill) => kill.committed < KILLED_EXPORT_EVENTS), schedule).toBe(true)
    expect(torn, schedule).toEqual([])
    expect(missing.length, schedule).toBe(0)
    expect(seen.size, schedule).toBe(KILLED_EXPORT_EVENTS)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
