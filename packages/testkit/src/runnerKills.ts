// SIGKILL tests of a sink: the built runner in a child process, killed while it exports, then run to the end.
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

/** The repository's root, from this file's place in it (packages/testkit/dist or src). */
const repositoryRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..")

/** The built entry point (`dist/index.js`) of a workspace package, by its folder (`apps/runner`, `packages/sink-s3`). */
export const builtEntry = (folder: string): string => path.join(repositoryRoot, folder, "dist", "index.js")

/**
 * A script (`runner.mjs`) that runs the built runner's `main` with its built-in plugins plus the sink a built
 * package exports as `sinkExport`, in place of a built-in one of the same type.
 */
export const runnerWithSink = (options: { readonly runnerIndex: string; readonly sinkIndex: string; readonly sinkExport: string }): string => {
  for (const file of [options.runnerIndex, options.sinkIndex]) {
    if (!fs.existsSync(file)) throw new Error(`${file} is missing: run \`npx tsc -b tsconfig.json\` at the root first`)
  }
  return `import { builtins, main } from ${JSON.stringify(pathToFileURL(options.runnerIndex).href)}
import { ${options.sinkExport} as sink } from ${JSON.stringify(pathToFileURL(options.sinkIndex).href)}
const sinks = [...builtins.sinks.filter((other) => other.type !== sink.type), sink]
main(process.argv.slice(2), { sources: builtins.sources, sinks }).then(
  (code) => { process.exitCode = code },
  (error) => { process.stderr.write(String(error) + "\\n"); process.exitCode = 1 }
)
`
}

/**
 * Writes `runner.mjs` (the built runner with the sink of `packages/<sinkPackage>`) and `pipeline.yaml` (one
 * pipeline `gen` of `count` generated events from `start` into the sink) into `dir`.
 */
export const writeKillPipeline = (
  dir: string,
  options: {
    readonly sinkPackage: string
    readonly sinkExport: string
    /** The sink's keys in YAML, indented for `sink:` (6 spaces). */
    readonly sinkKeys: string
    readonly count: number
    /** ISO 8601: the first generated timestamp. */
    readonly start: string
    readonly batchSize: number
  }
): void => {
  fs.writeFileSync(
    path.join(dir, "runner.mjs"),
    runnerWithSink({ runnerIndex: builtEntry("apps/runner"), sinkIndex: builtEntry(`packages/${options.sinkPackage}`), sinkExport: options.sinkExport })
  )
  fs.writeFileSync(
    path.join(dir, "pipeline.yaml"),
    `pipelines:
  - name: gen
    source: { type: generate, count: ${options.count}, seed: 7, start: "${options.start}" }
    sink:
${options.sinkKeys}
    batch:
      size: ${options.batchSize}
`
  )
}

/** A checkpoint file as the runner writes it. */
export interface CheckpointFile {
  readonly cursor: { readonly timestamp: string; readonly id: string }
  readonly exported: number
  readonly committedAt: string
}

/** The pipeline's checkpoint in `dir`, or undefined before its first commit (or while it is being replaced). */
export const readCheckpoint = (dir: string, pipeline = "gen"): CheckpointFile | undefined => {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, ".featbit-export", `${pipeline}.checkpoint.json`), "utf8")) as CheckpointFile
  } catch {
    return undefined
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** A reproducible sequence in [0, 1): a failing schedule is run again with its seed. */
export const seededRandom = (seed: number): (() => number) => {
  let state = seed >>> 0
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0
    return state / 2 ** 32
  }
}

/** A runner started as a child process. */
export interface RunnerProcess {
  readonly child: ChildProcess
  readonly finished: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
  readonly stderr: () => string
}

/** Starts `dir/runner.mjs` with `args` in `dir`, at the default log level, with `env` added. */
export const startRunner = (dir: string, args: ReadonlyArray<string>, env: Record<string, string> = {}): RunnerProcess => {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env }
  delete childEnv["FEATBIT_EXPORT_LOG_LEVEL"]
  delete childEnv["FEATBIT_EXPORT_DEBUG"]
  const child = spawn(process.execPath, [path.join(dir, "runner.mjs"), ...args], { cwd: dir, env: childEnv, stdio: ["ignore", "pipe", "pipe"] })
  let stderr = ""
  child.stdout.resume()
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => void (stderr += chunk))
  const finished = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on("error", reject)
    child.on("close", (code, signal) => resolve({ code, signal }))
  })
  return { child, finished, stderr: () => stderr }
}

/** One kill: how long after the awaited commit it came, and what the checkpoint held after it. */
export interface Kill {
  readonly afterMs: number
  readonly committed: number
}

/**
 * Runs `runner.mjs run pipeline.yaml --once` in `dir` `rounds` times, each killed with SIGKILL at a random
 * moment (up to `maxDelayMs`) after it has committed past a random share (up to `spread` events) of what
 * was committed before: so the kills fall all over the export, with transactions in flight. Fails when a run
 * exits by itself or commits nothing within 30 s.
 */
export const killDuringExport = async (options: {
  readonly dir: string
  /** The kills' schedule: a failing one runs again with its seed (errors name it). */
  readonly seed: number
  readonly rounds?: number
  readonly spread?: number
  readonly maxDelayMs?: number
  /** Added to each run's environment (credentials the pipeline file names as ${VAR}). */
  readonly env?: Record<string, string>
}): Promise<Array<Kill>> => {
  const random = seededRandom(options.seed)
  const fail = (why: string, run: RunnerProcess) => new Error(`seed ${options.seed}, kills ${JSON.stringify(kills)}: ${why}:\n${run.stderr()}`)
  const kills: Array<Kill> = []
  for (let round = 0; round < (options.rounds ?? 3); round++) {
    const before = (readCheckpoint(options.dir)?.exported ?? 0) + Math.floor(random() * (options.spread ?? 50_000))
    const run = startRunner(options.dir, ["run", "pipeline.yaml", "--once"], options.env)
    let exited = false
    void run.finished.then(() => (exited = true))
    const deadline = Date.now() + 30_000
    while ((readCheckpoint(options.dir)?.exported ?? 0) <= before) {
      if (exited) throw fail("the runner exited before it was killed", run)
      if (Date.now() > deadline) throw fail("no commit within 30s", run)
      await sleep(10)
    }
    const afterMs = Math.floor(random() * (options.maxDelayMs ?? 600))
    await sleep(afterMs)
    run.child.kill("SIGKILL")
    const end = await run.finished
    if (end.signal !== "SIGKILL") throw fail(`the runner finished (code ${end.code}) before the kill`, run)
    kills.push({ afterMs, committed: readCheckpoint(options.dir)?.exported ?? 0 })
  }
  return kills
}
