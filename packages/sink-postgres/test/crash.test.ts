import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type TestDatabase, createDatabase } from "../../source-postgres/test/support/pg.js"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..")
const runnerIndex = path.join(root, "apps", "runner", "dist", "index.js")
const sinkIndex = path.join(root, "packages", "sink-postgres", "dist", "index.js")
const made: Array<string> = []
let db: TestDatabase | undefined

beforeAll(() => {
  for (const file of [runnerIndex, sinkIndex]) {
    if (!fs.existsSync(file)) throw new Error(`${file} is missing: run \`npx tsc -b tsconfig.json\` at the root first`)
  }
})
afterAll(async () => {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
  await db?.drop()
})

/** The runner's `main` with the built-in plugins plus this sink (replacing a built-in one of the same type). */
const runnerScript = `import { builtins, main } from ${JSON.stringify(pathToFileURL(runnerIndex).href)}
import { PostgresSink } from ${JSON.stringify(pathToFileURL(sinkIndex).href)}
const sinks = [...builtins.sinks.filter((sink) => sink.type !== PostgresSink.type), PostgresSink]
main(process.argv.slice(2), { sources: builtins.sources, sinks }).then(
  (code) => { process.exitCode = code },
  (error) => { process.stderr.write(String(error) + "\\n"); process.exitCode = 1 }
)
`

const COUNT = 200_000
// Production-shaped timestamps: the export starts an hour ago.
const START = new Date(Date.now() - 3_600_000).toISOString()
const pipeline = (database: string) => `pipelines:
  - name: gen
    source:
      type: generate
      count: ${COUNT}
      seed: 7
      start: "${START}"
    sink:
      type: postgres
      host: localhost
      port: 5432
      user: postgres
      database: ${database}
    batch:
      size: 2000
`

const readCheckpoint = (dir: string): { exported: number; committedAt: string } | undefined => {
  const file = path.join(dir, ".featbit-export", "gen.checkpoint.json")
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"))
  } catch {
    return undefined
  }
}
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
const seededRandom = (seed: number) => {
  let state = seed >>> 0
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0
    return state / 2 ** 32
  }
}

const startRunner = (dir: string, args: ReadonlyArray<string>) => {
  const env: NodeJS.ProcessEnv = { ...process.env }
  delete env["FEATBIT_EXPORT_LOG_LEVEL"]
  const child: ChildProcess = spawn(process.execPath, [path.join(dir, "runner.mjs"), ...args], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] })
  let stderr = ""
  child.stdout!.resume()
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => void (stderr += chunk))
  const finished = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on("error", reject)
    child.on("close", (code, signal) => resolve({ code, signal }))
  })
  return { child, finished, stderr: () => stderr }
}

// A minute of CPU: the second run of the suite on the newest LTS (scripts/test-on-lts.mjs, which sets
// FEATBIT_EXPORT_LTS_RUN) skips it: once per CI is enough.
describe.skipIf(process.env["FEATBIT_EXPORT_LTS_RUN"] !== undefined)("a 200,000-event export into PostgreSQL killed with SIGKILL three times", () => {
  it("ends with count(*) = count(DISTINCT id) = the source's events", async () => {
    const seed = Number(process.env["KILL_SEED"] ?? Math.floor(Math.random() * 2 ** 31))
    const random = seededRandom(seed)
    db = await createDatabase("sinkcrash")
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "featbit-export-postgres-"))
    made.push(dir)
    fs.writeFileSync(path.join(dir, "runner.mjs"), runnerScript)
    fs.writeFileSync(path.join(dir, "pipeline.yaml"), pipeline(db.name))
    const kills: Array<{ afterMs: number; committed: number }> = []
    for (let round = 0; round < 3; round++) {
      // Spread the kills over the export: each run commits a random share of it first.
      const before = (readCheckpoint(dir)?.exported ?? 0) + Math.floor(random() * 50_000)
      const run = startRunner(dir, ["run", "pipeline.yaml", "--once"])
      let exited = false
      void run.finished.then(() => (exited = true))
      // Kill at a random point after this run has committed something, while transactions are in flight.
      const deadline = Date.now() + 30_000
      while ((readCheckpoint(dir)?.exported ?? 0) <= before) {
        if (exited) throw new Error(`the runner exited before committing anything:\n${run.stderr()}`)
        if (Date.now() > deadline) throw new Error(`no commit within 30s:\n${run.stderr()}`)
        await sleep(10)
      }
      const afterMs = Math.floor(random() * 600)
      await sleep(afterMs)
      run.child.kill("SIGKILL")
      const end = await run.finished
      expect(end.signal, `seed ${seed}: the runner finished before the kill`).toBe("SIGKILL")
      kills.push({ afterMs, committed: readCheckpoint(dir)?.exported ?? 0 })
    }
    const last = startRunner(dir, ["run", "pipeline.yaml", "--once"])
    const end = await last.finished
    const schedule = `seed ${seed}, start ${START}, kills ${JSON.stringify(kills)}`
    expect(end.code, `${schedule}\n${last.stderr()}`).toBe(0)
    const result = await db.pool.query<{ rows: string; ids: string }>("SELECT count(*) AS rows, count(DISTINCT id) AS ids FROM public.featbit_events")
    const seen = { rows: Number(result.rows[0]!.rows), ids: Number(result.rows[0]!.ids) }
    console.log(`postgres SIGKILL test: ${schedule}; count(*) ${seen.rows}, count(DISTINCT id) ${seen.ids}`)
    expect(kills.every((kill) => kill.committed < COUNT), schedule).toBe(true)
    expect(seen, schedule).toEqual({ rows: COUNT, ids: COUNT })
  }, 120_000)
})
