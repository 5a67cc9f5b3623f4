// The corpus of broken pipeline files: every one is refused by `validate` with exit 2 and one short
// sentence (in a JSON record, as off a terminal) that says where (file:line:column, where a line exists) and what to write instead, with no stack
// trace, in a bounded time and memory. Files that cannot be committed as text (binary, huge, a folder, a YAML
// bomb) are made in a temporary folder.
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { assertBuilt, bin, jsonLines, stackLine } from "./support.js"

beforeAll(assertBuilt)

const corpusDir = path.join(path.dirname(fileURLToPath(import.meta.url)), "corpus")
const madeDir = fs.mkdtempSync(path.join(os.tmpdir(), "featbit-export-corpus-"))
afterAll(() => fs.rmSync(madeDir, { recursive: true, force: true }))
/**
 * Preloaded into each child: writes the child's peak resident memory and the CPU time it used where it is
 * told to. CPU time, not the clock: the cases run side by side on a shared machine.
 */
const reporter = path.join(madeDir, "report-usage.cjs")
fs.writeFileSync(
  reporter,
  `process.on("exit", () => {
  const usage = process.resourceUsage()
  require("fs").writeFileSync(process.env.FEATBIT_CORPUS_USAGE_FILE, JSON.stringify({ maxRssKb: usage.maxRSS, cpuMs: (usage.userCPUTime + usage.systemCPUTime) / 1000 }))
})
`
)

/** The variables the corpus's interpolation cases read; a canary stands for a secret. */
const CANARY = "canary-Zq8xW3pL"
const env: Record<string, string> = { FEATBIT_CORPUS_EMPTY: "", FEATBIT_CORPUS_POLL: "5", FEATBIT_CORPUS_SECRET: CANARY }

interface Case {
  /** line:column of the first issue, or undefined where the file has no line to point at. */
  readonly at: string | undefined
  /** A phrase of the sentence that says what is wrong or what to write. */
  readonly says: string
}

const committed: Record<string, Case> = {
  "alias-undefined.yaml": { at: "3:13", says: "*generate refers to no anchor: define &generate" },
  "bad-date.yaml": { at: "6:16", says: '"yesterday" is not a date-time: write a UTC date-time such as 2024-01-01T00:00:00Z' },
  "bad-pipeline-name.yaml": { at: "2:11", says: "a pipeline name is letters, digits" },
  "batch-size-1e12.yaml": { at: "5:20", says: "1000000000000 is more than 100000" },
  "batch-size-over-cap.yaml": { at: "5:20", says: "200000 is more than 100000" },
  "clickhouse-requesttimeout-bare.yaml": { at: "6:23", says: "requestTimeout: 30 is a number without a unit: write 30s" },
  "comments-only.yaml": { at: undefined, says: "the file is empty: it needs a top-level 'pipelines:' list" },
  "connecttimeout-words.yaml": { at: "6:23", says: '"10 seconds" is not a duration: write 10s' },
  "deadletters-negative.yaml": { at: "5:25", says: "-1 is not a whole number of at least 0" },
  "duplicate-key.yaml": { at: "6:7", says: "duplicate key" },
  "duplicate-pipeline-names.yaml": { at: "5:11", says: 'pipeline name "gen" is already used by pipelines[0]' },
  "empty-env.yaml": { at: "6:13", says: "FEATBIT_CORPUS_EMPTY is empty: give it a value" },
  "empty.yaml": { at: undefined, says: "the file is empty" },
  "end-before-start.yaml": { at: "7:7", says: "must be after startAt" },
  "env-number-duration.yaml": { at: "5:19", says: "a number without a unit: write it with one, e.g. 30s" },
  "envid-and-envids.yaml": { at: "6:7", says: "envId and envIds are both given; keep one" },
  "envids-empty.yaml": { at: "6:15", says: "is an empty list: give at least one item" },
  "eventhub-sdkretrydelay-bare.yaml": { at: "10:22", says: "sdkRetryDelay: 500 is a number without a unit" },
  "eventhub-serverbusywait-bare.yaml": { at: "10:23", says: "serverBusyWait: 4 is a number without a unit" },
  "events-unknown-kind.yaml": { at: "6:16", says: 'must be one of "FlagValue", "CustomEvent", "PageView", "Click", not "FlagValues"' },
  "fractional-batch-size.yaml": { at: "5:20", says: "2.5 is not a whole number of at least 1" },
  "inflight-over-cap.yaml": { at: "5:24", says: "1000 is more than 64" },
  "interp-bad-name.yaml": { at: "6:13", says: "${1OUT} is not a valid reference" },
  "interp-empty.yaml": { at: "6:13", says: "${} names no variable" },
  "interp-nested.yaml": { at: "6:13", says: "puts a reference inside another" },
  "interp-unclosed.yaml": { at: "6:13", says: "${FEATBIT_CORPUS_OUT is not closed: end the reference with }" },
  "lag-bare-number.yaml": { at: "6:12", says: "lag: 30 is a number without a unit: write 30s (or 30000ms), or 30ms if milliseconds were meant" },
  "latewindow-days.yaml": { at: "6:19", says: '"2d" is not a duration: write 48h' },
  "latewindow-negative.yaml": { at: "6:19", says: '"-1h" is negative' },
  "merge-key.yaml": { at: "5:7", says: "YAML merge keys (<<) are not supported" },
  "missing-env-message.yaml": { at: "6:13", says: "FEATBIT_CORPUS_UNSET is not set: set FEATBIT_CORPUS_UNSET to the export file" },
  "missing-env.yaml": { at: "6:13", says: "write ${FEATBIT_CORPUS_UNSET:-default} to give a default" },
  "missing-name.yaml": { at: "2:5", says: "pipelines[0].name: is required but missing" },
  "missing-sink-path.yaml": { at: "4:11", says: "pipelines[0].sink.path: is required but missing" },
  "missing-source.yaml": { at: "2:5", says: "pipelines[0].source: is required but missing" },
  "missing-type.yaml": { at: "3:13", says: "it says which source this is, one of" },
  "mode-unknown.yaml": { at: "5:11", says: 'must be one of "follow", "once", not "forever"' },
  "multi-document.yaml": { at: "5:1", says: "a second YAML document starts here" },
  "negative-batch-size.yaml": { at: "5:20", says: "-100 is not a whole number of at least 1" },
  "negative-retries.yaml": { at: "5:26", says: "-1 is not a whole number of at least 0" },
  "pipeline-name-traversal.yaml": { at: "2:11", says: "it names the checkpoint file" },
  "pipelines-block.yaml": { at: "2:3", says: "must be a list of at least one item, not a block of keys" },
  "pipelines-empty.yaml": { at: "1:12", says: "is an empty list" },
  "poll-bare-number.yaml": { at: "5:19", says: "pollInterval: 5 is a number without a unit: write 5s" },
  "poll-too-long.yaml": { at: "5:19", says: "longer than 24 days" },
  "poll-too-short.yaml": { at: "5:19", says: "10ms is shorter than 100ms" },
  "poll-zero.yaml": { at: "5:19", says: "0s is shorter than 100ms" },
  "querytimeout-bare-number.yaml": { at: "6:21", says: "queryTimeout: 60 is a number without a unit: write 60s" },
  "retry-initial-above-max.yaml": { at: "6:21", says: "initialDelay (1m) is longer than maxDelay (30s)" },
  "retry-maxdelay-bare.yaml": { at: "5:24", says: "30000 is a number without a unit: write 30000ms (or 30s)" },
  "retry-maxdelay-below-default.yaml": { at: "5:24", says: "initialDelay (200ms) is longer than maxDelay (100ms)" },
  "same-file-folder-and-file.yaml": { at: "9:13", says: "is also written by pipelines[0] (flags); give each pipeline its own file" },
  "same-file-other-spelling.yaml": { at: "9:13", says: "is also written by pipelines[0] (flags)" },
  "same-file-two-pipelines.yaml": { at: "9:13", says: "is also written by pipelines[0] (flags)" },
  "secret-env-wrong-key.yaml": { at: "5:11", says: '"follow", "once" (the value is not shown)' },
  "secret-number-writekey.yaml": { at: "6:17", says: "writeKey: must be text (the value is not shown)" },
  "segment-requesttimeout-bare.yaml": { at: "7:23", says: "requestTimeout: 30 is a number without a unit" },
  "source-is-a-word.yaml": { at: "3:13", says: 'must be a block of keys with a type (one of "clickhouse"' },
  "string-for-number.yaml": { at: "5:24", says: 'must be a number, not "4"' },
  "syntax-indent.yaml": { at: "5:6", says: "All mapping items must start at the same column" },
  "syntax-unclosed-bracket.yaml": { at: "4:5", says: "must be sufficiently indented and end with a }" },
  "syntax-unclosed-quote.yaml": { at: "6:1", says: 'Missing closing "quote' },
  "tabs.yaml": { at: "2:4", says: "a tab indents this line: YAML indents with spaces only" },
  "top-level-list.yaml": { at: "1:1", says: "must be a block of keys (state, cluster, server, pipelines), not a list" },
  "top-level-scalar.yaml": { at: "1:1", says: "must be a block of keys (state, cluster, server, pipelines)" },
  "unknown-key-pipeline.yaml": { at: "5:5", says: 'unknown key (did you mean "pollInterval"?)' },
  "unknown-key-sink.yaml": { at: "5:7", says: 'pth: unknown key (did you mean "path"?)' },
  "unknown-key-source.yaml": { at: "6:7", says: "colour: unknown key" },
  "unknown-key-top.yaml": { at: "1:1", says: 'pipeline: unknown key (did you mean "pipelines"?)' },
  "unknown-sink-type.yaml": { at: "4:19", says: '"kafka" is not a sink type; the known types are' },
  "unknown-source-type.yaml": { at: "3:21", says: '"clickhous" is not a source type' },
  "wrong-type-batch.yaml": { at: "5:12", says: "must be a block of keys (size, inFlight), not 5000" },
  "wrong-type-count.yaml": { at: "3:38", says: 'must be a number, not "lots"' },
  "wrong-type-state.yaml": { at: "1:8", says: "state: must be text, not a list" }
}

const lol = (name: string, inner: string) => `${name}: &${name} [${Array(9).fill(`*${inner}`).join(",")}]\n`

/** Files made here: what they hold cannot be committed as a small text file. */
const made: Record<string, Case & { readonly make: (file: string) => void }> = {
  "yaml-bomb.yaml": {
    at: "2:8",
    says: "the aliases (*name) of this file expand to more than 100 copies",
    make: (file) => fs.writeFileSync(file, `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n${lol("b", "a")}${lol("c", "b")}${lol("d", "c")}${lol("e", "d")}${lol("f", "e")}${lol("g", "f")}pipelines: [*g]\n`)
  },
  "deep-flow.yaml": {
    // 100 KB of brackets: once enough for V8 to abort the process.
    at: "1:76",
    says: "nests blocks and lists more than 64 levels deep here",
    make: (file) => fs.writeFileSync(file, `pipelines: ${"[".repeat(50_000)}${"]".repeat(50_000)}\n`)
  },
  "deep-blocks.yaml": {
    at: "65:130",
    says: "nests blocks and lists more than 64 levels deep here",
    make: (file) => fs.writeFileSync(file, "pipelines:\n" + Array.from({ length: 400 }, (_, i) => `${"  ".repeat(i + 1)}a:\n`).join(""))
  },
  "fifty-megabytes.yaml": {
    at: undefined,
    says: "the file is 50.0 MB, more than a pipeline file may be (1 MB)",
    make: (file) => fs.writeFileSync(file, "pipelines:\n" + "# padding\n".repeat(5_242_879) + "\n".repeat(9))
  },
  "binary.yaml": {
    at: undefined,
    says: "the file is not text (it holds NUL or other control bytes)",
    make: (file) => fs.writeFileSync(file, Buffer.from(Array.from({ length: 2560 }, (_, i) => i % 256)))
  },
  "latin-1.yaml": {
    at: "2:14",
    says: "not UTF-8 (is it in another encoding, such as Latin-1 or Windows-1252?): save the file as UTF-8",
    make: (file) => fs.writeFileSync(file, Buffer.from("pipelines:\n  - name: caf\xe9\n", "latin1"))
  },
  "utf-16.yaml": {
    at: undefined,
    says: "the file is UTF-16 (it starts with a UTF-16 byte order mark): save it as UTF-8",
    make: (file) => fs.writeFileSync(file, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("pipelines:\n", "utf16le")]))
  },
  "control-character.yaml": {
    at: "2:11",
    says: "a control character (U+001B) is here",
    make: (file) => fs.writeFileSync(file, "pipelines:\n  - name: \x1b[31mred\n")
  },
  "a-folder.yaml": {
    at: undefined,
    says: "is a folder, not a pipeline file",
    make: (file) => fs.mkdirSync(file)
  },
  "no-such-file.yaml": { at: undefined, says: "no such file", make: () => undefined }
}

/** Runs `validate` on `file` in a child, with its peak memory and CPU time reported by the child itself. */
const validate = (file: string): Promise<{ code: number | null; stdout: string; stderr: string; cpuMs: number; maxRssMb: number }> =>
  new Promise((resolve, reject) => {
    const usageFile = path.join(madeDir, `${path.basename(file)}.usage.json`)
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env, FEATBIT_CORPUS_USAGE_FILE: usageFile }
    delete childEnv["FEATBIT_EXPORT_LOG_LEVEL"]
    delete childEnv["FEATBIT_EXPORT_DEBUG"]
    delete childEnv["FEATBIT_CORPUS_UNSET"]
    delete childEnv["FEATBIT_CORPUS_OUT"]
    const child = spawn(process.execPath, ["--require", reporter, bin, "validate", path.basename(file)], {
      cwd: path.dirname(file),
      env: childEnv,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => void (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => void (stderr += chunk))
    child.on("error", reject)
    child.on("close", (code) => {
      const usage = fs.existsSync(usageFile) ? (JSON.parse(fs.readFileSync(usageFile, "utf8")) as { maxRssKb: number; cpuMs: number }) : undefined
      resolve({ code, stdout, stderr, cpuMs: usage?.cpuMs ?? NaN, maxRssMb: (usage?.maxRssKb ?? NaN) / 1024 })
    })
  })

const cases = [
  ...Object.entries(committed).map(([name, expected]) => ({ name, file: path.join(corpusDir, name), ...expected })),
  ...Object.entries(made).map(([name, expected]) => ({ name, file: path.join(madeDir, name), ...expected }))
]

describe("the corpus of broken pipeline files", () => {
  beforeAll(() => {
    for (const [name, { make }] of Object.entries(made)) make(path.join(madeDir, name))
  })

  it("holds every committed file, and at least 60 cases", () => {
    expect(fs.readdirSync(corpusDir).sort()).toEqual(Object.keys(committed).sort())
    expect(cases.length).toBeGreaterThanOrEqual(60)
  })

  it.concurrent.each(cases)("$name: exit 2, where, what to write, no stack, no secret, bounded", async ({ name, file, at, says }) => {
    const result = await validate(file)
    expect(result.code, result.stderr).toBe(2)
    expect(result.stdout).toBe("")
    // Off a terminal: one JSON record, its message the sentence a terminal shows, its issues with their places.
    const records = jsonLines(result.stderr) as Array<{ level: string; message: string; issues?: Array<{ line?: number; column?: number }> }>
    expect(records, result.stderr).toHaveLength(1)
    const [record] = records
    expect(record!.level).toBe("error")
    expect(record!.message.startsWith(at === undefined ? `${name}: ` : `${name}:${at}: `), record!.message).toBe(true)
    if (at !== undefined) expect(`${record!.issues?.[0]?.line}:${record!.issues?.[0]?.column}`).toBe(at)
    expect(record!.message).toContain(says)
    expect(Buffer.byteLength(record!.message)).toBeLessThan(1024)
    expect(record!.message).not.toMatch(stackLine)
    expect(result.stderr).not.toMatch(/internal error|Encoded side|parseAllDocuments|Maximum call stack/)
    expect(result.stderr).not.toContain(CANARY)
    // Ceilings, not a benchmark: a file the runner has to refuse must never cost a minute or gigabytes.
    expect(result.cpuMs).toBeLessThan(5000)
    expect(result.maxRssMb).toBeLessThan(200)
  })
})
