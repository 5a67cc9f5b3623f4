import * as fs from "node:fs"
import * as path from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { assertBuilt, cli, generatePipeline, jsonLines, stackLine, tempDir, writeFile } from "./support.js"

beforeAll(assertBuilt)

const pipelineWith = (source: string, sink = "    sink: { type: file, path: out/events.ndjson }\n") =>
  `pipelines:\n  - name: gen\n    source:\n${source}${sink}`

interface Case {
  readonly name: string
  readonly yaml?: string
  readonly args?: ReadonlyArray<string>
  /** Every one of these must appear in stderr. */
  readonly says: ReadonlyArray<string>
  /** These too, in the text format only (the JSON record points to --help instead of quoting it). */
  readonly textSays?: ReadonlyArray<string>
}

const cases: ReadonlyArray<Case> = [
  {
    name: "bad indentation (a YAML syntax error)",
    yaml: pipelineWith("      type: generate\n     count: 100\n"),
    // The line of the badly indented key, and the key.
    says: ["pipeline.yaml:5:", "count"]
  },
  {
    name: "an unknown key",
    yaml: pipelineWith("      type: generate\n      count: 100\n      colour: red\n"),
    says: ["pipeline.yaml:6:7:", "pipelines[0].source.colour", "unknown key", '"count"']
  },
  {
    name: "a value of the wrong type",
    yaml: pipelineWith("      type: generate\n      count: lots\n"),
    says: ["pipeline.yaml:5:14:", "pipelines[0].source.count", "number"]
  },
  {
    name: "a missing environment variable",
    yaml: pipelineWith("      type: generate\n", "    sink:\n      type: file\n      path: ${NOPE}\n"),
    says: ["pipeline.yaml:7:13:", "pipelines[0].sink.path", "NOPE is not set"]
  },
  {
    name: "a missing environment variable with its own message",
    yaml: pipelineWith("      type: generate\n", "    sink:\n      type: file\n      path: ${OUT_DIR:?set OUT_DIR to the export folder}\n"),
    says: ["pipeline.yaml:7:13:", "pipelines[0].sink.path", "set OUT_DIR to the export folder"]
  },
  {
    name: "an unknown source type",
    yaml: pipelineWith("      type: clickhous\n      count: 100\n"),
    // The known types are listed.
    says: ["pipeline.yaml:4:13:", "pipelines[0].source.type", '"generate"', '"clickhous"']
  },
  {
    name: "a setting out of range",
    yaml: generatePipeline({ count: 10, batch: 0 }),
    says: ["pipeline.yaml:11:13:", "pipelines[0].batch.size"]
  },
  {
    name: "two pipelines with the same name",
    yaml: generatePipeline({ count: 10 }) + generatePipeline({ count: 10 }).replace(/^pipelines:\n/, ""),
    says: ["pipeline.yaml:12:11:", "pipelines[1].name", "already used"]
  },
  { name: "a missing file", args: ["validate", "missing.yaml"], says: ["missing.yaml", "no such file"] },
  {
    name: "an unknown --pipeline name",
    yaml: generatePipeline({ count: 10 }),
    args: ["run", "pipeline.yaml", "--pipeline", "nope"],
    says: ["pipeline.yaml", 'no pipeline named "nope"', '"gen"']
  },
  { name: "an unknown command", args: ["frobnicate", "pipeline.yaml"], says: ['unknown command "frobnicate"'], textSays: ["Usage:"] },
  { name: "an unknown option", args: ["run", "pipeline.yaml", "--frob"], says: ["unknown option --frob"], textSays: ["Usage:"] },
  { name: "an option without its value", args: ["preview", "pipeline.yaml", "--limit"], says: ["--limit needs a value"] },
  { name: "a command without its file", args: ["run"], says: ["run needs a pipeline file"] }
]

describe("an invalid pipeline file or command line", () => {
  it.each(cases)("$name: exits 2 saying where, without a stack trace, and runs nothing", async ({ yaml, args, says, textSays = [] }) => {
    const dir = tempDir()
    if (yaml !== undefined) writeFile(dir, "pipeline.yaml", yaml)
    const argv = args ?? ["run", "pipeline.yaml", "--once"]
    const env = { NOPE: undefined, OUT_DIR: undefined }
    // Written for a person (text), and as one JSON record for a log collector (the default off a terminal).
    const [text, json] = await Promise.all([cli([...argv, "--log-format", "text"], { cwd: dir, env }), cli(argv, { cwd: dir, env })])
    expect(text.code, text.stderr).toBe(2)
    for (const phrase of [...says, ...textSays]) expect(text.stderr).toContain(phrase)
    expect(text.stderr).not.toMatch(stackLine)
    expect(text.stderr).not.toContain("internal error")
    expect(text.stdout).toBe("")
    expect(json.code, json.stderr).toBe(2)
    const records = jsonLines(json.stderr)
    expect(records, json.stderr).toHaveLength(1)
    expect(records[0]).toMatchObject({ level: "error" })
    for (const phrase of says) expect(records[0]!["message"]).toContain(phrase)
    expect(json.stdout).toBe("")
    // Nothing was started: no output, no state.
    expect(fs.readdirSync(dir).filter((entry) => entry !== "pipeline.yaml")).toEqual([])
  })

  it("names every problem of a file at once, each on its own line", async () => {
    const dir = tempDir()
    writeFile(dir, "pipeline.yaml", pipelineWith("      type: generate\n      count: lots\n      colour: red\n"))
    const result = await cli(["validate", "pipeline.yaml", "--log-format", "text"], { cwd: dir })
    expect(result.code).toBe(2)
    const lines = result.stderr.trim().split("\n")
    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatch(/^pipeline\.yaml:5:14: pipelines\[0\]\.source\.count: /)
    expect(lines[1]).toMatch(/^pipeline\.yaml:6:7: pipelines\[0\]\.source\.colour: unknown key/)
    // In JSON, one record that lists each issue with its place.
    const json = await cli(["validate", "pipeline.yaml"], { cwd: dir })
    const [record] = jsonLines(json.stderr) as Array<{ file: string; issues: Array<{ path: string; line: number; column: number }> }>
    expect(record!.file).toBe("pipeline.yaml")
    expect(record!.issues.map((issue) => [issue.path, issue.line, issue.column])).toEqual([
      ["pipelines[0].source.count", 5, 14],
      ["pipelines[0].source.colour", 6, 7]
    ])
  })

  it("validate of a good file prints its pipelines and exits 0", async () => {
    const dir = tempDir()
    writeFile(dir, "pipeline.yaml", generatePipeline({ count: 10 }))
    const result = await cli(["validate", "pipeline.yaml"], { cwd: dir })
    expect(result.code, result.stderr).toBe(0)
    const record = JSON.parse(result.stderr.trim()) as { message: string; pipelines: Array<{ name: string; source: { type: string }; sink: { type: string; path: string } }> }
    expect(record.message).toBe("valid")
    expect(record.pipelines).toMatchObject([{ name: "gen", source: { type: "generate", count: 10 }, sink: { type: "file", path: "out/events.ndjson" } }])
    expect(fs.existsSync(path.join(dir, ".featbit-export"))).toBe(false)
  })
})
