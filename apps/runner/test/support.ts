import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { generateRows } from "@featbit-export/source-generate"
import { afterEach } from "vitest"

const runnerDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
export const bin = path.join(runnerDir, "dist", "bin.js")

/**
 * These tests run the built CLI, as users do. A dist older than the sources would test old code and pass
 * or fail for the wrong reason, so say so instead.
 */
export const assertBuilt = (): void => {
  const stale = (dir: string): Array<string> =>
    fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
      const source = path.join(dir, entry.name)
      if (entry.isDirectory()) return stale(source)
      const built = path.join(runnerDir, "dist", path.relative(path.join(runnerDir, "src"), source)).replace(/\.ts$/, ".js")
      return !fs.existsSync(built) || fs.statSync(built).mtimeMs < fs.statSync(source).mtimeMs ? [source] : []
    })
  const outdated = stale(path.join(runnerDir, "src"))
  if (outdated.length > 0) {
    throw new Error(`apps/runner/dist is older than ${outdated.join(", ")}: run \`npx tsc -b tsconfig.json\` at the root first (with --force if it finds nothing to do)`)
  }
}

const made: Array<string> = []
afterEach(() => {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})

/** A fresh folder, removed after the test. */
export const tempDir = (): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "featbit-export-runner-"))
  made.push(dir)
  return dir
}

export const writeFile = (dir: string, name: string, text: string): string => {
  const file = path.join(dir, name)
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, text)
  return file
}

/** A generate -> file pipeline file; `extra` is appended to the pipeline's keys (indented YAML lines). */
export const generatePipeline = (options: {
  readonly name?: string
  readonly count: number
  readonly seed?: number
  readonly batch?: number
  readonly out?: string
  readonly extra?: string
}): string => `pipelines:
  - name: ${options.name ?? "gen"}
    source:
      type: generate
      count: ${options.count}
      seed: ${options.seed ?? 7}
    sink:
      type: file
      path: ${options.out ?? "out/events.ndjson"}
    batch:
      size: ${options.batch ?? 1000}
${options.extra ?? ""}`

/** The environment children get: no inherited log settings, no terminal. */
const childEnv = (extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra }
  delete env["FEATBIT_EXPORT_LOG_LEVEL"]
  delete env["FEATBIT_EXPORT_DEBUG"]
  for (const [key, value] of Object.entries(extra)) if (value === undefined) delete env[key]
  return env
}

export interface Finished {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

export interface Running {
  readonly child: ChildProcess
  readonly pid: number
  /** What it printed so far. */
  readonly stdout: () => string
  readonly stderr: () => string
  readonly finished: Promise<Finished>
}

/** Starts the CLI in `cwd` with pipes (so not a terminal). */
export const start = (args: ReadonlyArray<string>, options: { readonly cwd: string; readonly env?: Record<string, string | undefined> }): Running => {
  const child = spawn(process.execPath, [bin, ...args], { cwd: options.cwd, env: childEnv(options.env), stdio: ["ignore", "pipe", "pipe"] })
  let stdout = ""
  let stderr = ""
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => void (stdout += chunk))
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => void (stderr += chunk))
  const finished = new Promise<Finished>((resolve, reject) => {
    child.on("error", reject)
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
  return { child, pid: child.pid!, stdout: () => stdout, stderr: () => stderr, finished }
}

/** Runs the CLI to its end. */
export const cli = (args: ReadonlyArray<string>, options: { readonly cwd: string; readonly env?: Record<string, string | undefined> }): Promise<Finished> =>
  start(args, options).finished

/** Polls until `check` returns a value other than undefined, or fails after `timeoutMs`. */
export const waitFor = async <A>(what: string, check: () => A | undefined, timeoutMs = 20_000): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export interface CheckpointFile {
  readonly cursor: { readonly timestamp: string; readonly id: string }
  readonly committedAt: string
  readonly exported: number
  readonly deadLettered: number
}

export const checkpointPath = (dir: string, pipeline = "gen"): string => path.join(dir, ".featbit-export", `${pipeline}.checkpoint.json`)
export const lockPath = (dir: string, pipeline = "gen"): string => path.join(dir, ".featbit-export", `${pipeline}.lock`)

export const readCheckpoint = (dir: string, pipeline = "gen"): CheckpointFile | undefined => {
  const file = checkpointPath(dir, pipeline)
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as CheckpointFile) : undefined
}

export interface Line {
  readonly id: string
  readonly timestamp: string
}

/** Every line of an NDJSON file, parsed; throws, naming the line, when one is not JSON. */
export const readNdjson = (file: string): Array<Line> => {
  const text = fs.readFileSync(file, "utf8")
  if (text !== "" && !text.endsWith("\n")) throw new Error(`${file} does not end with a whole line`)
  const lines = text === "" ? [] : text.slice(0, -1).split("\n")
  return lines.map((line, i) => {
    try {
      return JSON.parse(line) as Line
    } catch {
      throw new Error(`${file}:${i + 1} is not JSON: ${line.slice(0, 80)}`)
    }
  })
}

/** The `(timestamp, id)` keyset order, as text. */
export const compareKeys = (a: Line, b: Line): number =>
  a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0

/** The events `type: generate` produces for these options, in order. */
export const generated = (count: number, seed = 7): Array<Line> =>
  Array.from(generateRows({ count, seed }), (row) => ({ id: row.id, timestamp: row.timestamp }))

/** Each stderr line of a non-terminal run, parsed (each must be a JSON object). */
export const jsonLines = (stderr: string): Array<Record<string, unknown>> =>
  stderr
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>
      } catch {
        throw new Error(`stderr line is not JSON: ${line}`)
      }
    })

/** A stack trace line, as Node prints them. */
export const stackLine = /^\s+at /m

/** mulberry32: a small seeded PRNG, so a failing random schedule can be replayed with its seed. */
export const seededRandom = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
