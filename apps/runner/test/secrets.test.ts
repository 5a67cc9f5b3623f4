import * as fs from "node:fs"
import * as path from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { type SinkLog, registryWith, runMain } from "./in-process.js"
import { stackLine, tempDir, writeFile } from "./support.js"

// Shaped like a real write key, and found nowhere else, so any appearance is a leak.
const SECRET = "sk_live_9fQ2xVb7Lm4T"
const DIGIT_SECRET = "40817263549102735"

const vaultPipeline = (sink: string, extra = "") => `pipelines:
  - name: vaulted
    source: { type: generate, count: 1500, seed: 3 }
    sink:
      type: vault
${sink}
${extra}`

/** Everything the runner could have written the secret into. */
const everything = (dir: string, printed: { stdout: string; stderr: string }): string => {
  const files: Array<string> = []
  const walk = (at: string): void => {
    for (const entry of fs.readdirSync(at, { withFileTypes: true })) {
      const full = path.join(at, entry.name)
      if (entry.isDirectory()) walk(full)
      else if (!entry.name.endsWith(".yaml")) files.push(fs.readFileSync(full, "utf8"))
    }
  }
  walk(dir)
  return [printed.stdout, printed.stderr, ...files].join("\n")
}

describe("a secret given through an environment variable", () => {
  let log: SinkLog
  beforeEach(() => {
    log = { writeKeys: [], attempts: [] }
    process.env["VAULT_WRITE_KEY"] = SECRET
    process.env["VAULT_DIGIT_KEY"] = DIGIT_SECRET
  })
  afterEach(() => {
    delete process.env["VAULT_WRITE_KEY"]
    delete process.env["VAULT_DIGIT_KEY"]
  })

  it("is shown as <redacted> by validate, which prints the pipelines and exits 0", async () => {
    const dir = tempDir()
    const file = writeFile(dir, "pipeline.yaml", vaultPipeline("      writeKey: ${VAULT_WRITE_KEY}\n      region: eu"))
    const result = await runMain(["validate", file], registryWith(log))
    expect(result.code, result.stderr).toBe(0)
    const record = JSON.parse(result.stderr) as { message: string; pipelines: Array<{ name: string; sink: Record<string, unknown> }> }
    expect(record.message).toBe("valid")
    expect(record.pipelines[0]).toMatchObject({ name: "vaulted", sink: { type: "vault", writeKey: "<redacted>", region: "eu" } })
    expect(everything(dir, result)).not.toContain(SECRET)
  })

  it("reaches the plugin, and appears in no output, log, checkpoint or dead letter of a run, check or preview", async () => {
    const dir = tempDir()
    const file = writeFile(dir, "pipeline.yaml", vaultPipeline("      writeKey: ${VAULT_WRITE_KEY}").replace("seed: 3 }", "seed: 3, malformedEvery: 500 }"))
    const registry = registryWith(log)
    const run = await runMain(["run", file, "--once"], registry)
    expect(run.code, run.stderr).toBe(0)
    const check = await runMain(["check", file], registry)
    expect(check.code, check.stderr).toBe(0)
    const preview = await runMain(["preview", file, "--limit", "2"], registry)
    expect(preview.code, preview.stderr).toBe(0)
    // Not vacuous: the plugin was given the real value each time it was opened.
    expect(log.writeKeys).toEqual([SECRET, SECRET])
    expect(fs.existsSync(path.join(dir, ".featbit-export", "vaulted.dead-letter.ndjson"))).toBe(true)
    const all = [run, check, preview].map((printed) => everything(dir, printed)).join("\n")
    expect(all).not.toContain(SECRET)
  })

  it("made only of digits stays text for a text key, and is still never printed", async () => {
    const dir = tempDir()
    const file = writeFile(dir, "pipeline.yaml", vaultPipeline("      writeKey: ${VAULT_DIGIT_KEY}"))
    const result = await runMain(["run", file, "--once"], registryWith(log))
    expect(result.code, result.stderr).toBe(0)
    expect(log.writeKeys).toEqual([DIGIT_SECRET])
    expect(everything(dir, result)).not.toContain(DIGIT_SECRET)
  })

  it("is not echoed by errors about the key it fills, its neighbours, or a key that expected something else", async () => {
    const dir = tempDir()
    const file = writeFile(
      dir,
      "pipeline.yaml",
      vaultPipeline("      writeKey: ${VAULT_WRITE_KEY}\n      colour: red", "    batch:\n      size: ${VAULT_WRITE_KEY}\n    pollInterval: ${VAULT_WRITE_KEY}")
    )
    const result = await runMain(["validate", file], registryWith(log))
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("pipelines[0].sink.colour: unknown key")
    expect(result.stderr).toContain("pipelines[0].batch.size")
    expect(result.stderr).toContain("pipelines[0].pollInterval")
    expect(result.stderr).not.toMatch(stackLine)
    expect(everything(dir, result)).not.toContain(SECRET)
  })

  it("written in the file itself, under a key that wanted text, is not echoed either", async () => {
    const dir = tempDir()
    const file = writeFile(dir, "pipeline.yaml", vaultPipeline(`      writeKey: ${DIGIT_SECRET}`))
    const result = await runMain(["validate", file], registryWith(log))
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("pipeline.yaml:6:17: pipelines[0].sink.writeKey")
    expect(result.stderr.replace(file, "")).not.toContain(DIGIT_SECRET)
  })
})

describe("plugin types", () => {
  it("an unknown type lists the types that are known", async () => {
    const dir = tempDir()
    const file = writeFile(dir, "pipeline.yaml", "pipelines:\n  - name: x\n    source: { type: kafka }\n    sink: { type: file, path: out/ }\n")
    const result = await runMain(["validate", file, "--log-format", "text"], registryWith({ writeKeys: [], attempts: [] }))
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("pipeline.yaml:3:21: pipelines[0].source.type")
    expect(result.stderr).toContain('"generate"')
    expect(result.stderr).toContain('"silence"')
    expect(result.stderr).toContain('"kafka"')
  })
})
