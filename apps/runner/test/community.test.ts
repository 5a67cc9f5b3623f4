import { createHmac } from "node:crypto"
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterEach, beforeAll, describe, expect, it } from "vitest"
import { assertBuilt, cli, generated, stackLine, tempDir, writeFile } from "./support.js"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..")
const webhookPackage = path.join(root, "examples", "community", "sink-webhook")
const PACKAGE = "@featbit-export-examples/sink-webhook"
const SECRET = "whsec_7Hq2LmVx9Tb4"

beforeAll(() => {
  assertBuilt()
  if (!fs.existsSync(path.join(webhookPackage, "dist", "index.js"))) throw new Error("examples/community/sink-webhook is not built: run `npx tsc -b tsconfig.json` at the root first")
})

/** A temp folder whose node_modules holds the example plugin (a symlink, as `npm link` makes). */
const projectWithPlugin = (): string => {
  const dir = tempDir()
  fs.mkdirSync(path.join(dir, "node_modules", "@featbit-export-examples"), { recursive: true })
  fs.symlinkSync(webhookPackage, path.join(dir, "node_modules", PACKAGE), "dir")
  return dir
}

interface Hook {
  readonly url: string
  readonly ids: Array<string>
  readonly badSignatures: () => number
  readonly close: () => Promise<void>
}

const servers: Array<Hook> = []
afterEach(async () => {
  for (const hook of servers.splice(0)) await hook.close()
})

const startHook = async (secret: string): Promise<Hook> => {
  const ids: Array<string> = []
  let bad = 0
  const server = http.createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8")
      const expected = `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`
      if (req.headers["x-featbit-signature"] !== expected) {
        bad++
        return void res.writeHead(401).end()
      }
      for (const event of (JSON.parse(body) as { events: Array<{ id: string }> }).events) ids.push(event.id)
      res.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const hook: Hook = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    ids,
    badSignatures: () => bad,
    close: () => new Promise((resolve) => server.close(() => resolve()))
  }
  servers.push(hook)
  return hook
}

const pipeline = (sink: string) => `pipelines:
  - name: hook
    source:
      type: generate
      count: 2500
      seed: 11
    sink:
${sink}
    batch: { size: 500 }
`

describe("a community sink named with use:", () => {
  it("loads the package from the pipeline file's folder and delivers every event, signed", async () => {
    const dir = projectWithPlugin()
    const hook = await startHook(SECRET)
    const file = writeFile(dir, "pipelines.yaml", pipeline(`      use: "${PACKAGE}"\n      url: ${hook.url}\n      secret: \${WEBHOOK_SECRET}`))
    const done = await cli(["run", file, "--once"], { cwd: dir, env: { WEBHOOK_SECRET: SECRET } })
    expect(done.stderr).not.toContain(SECRET)
    expect(done.code).toBe(0)
    expect(hook.badSignatures()).toBe(0)
    expect(new Set(hook.ids)).toEqual(new Set(generated(2500, 11).map((e) => e.id)))
  })

  it("validates its config, showing the secret redacted", async () => {
    const dir = projectWithPlugin()
    const file = writeFile(dir, "pipelines.yaml", pipeline(`      use: "${PACKAGE}"\n      url: http://127.0.0.1:1/hook\n      secret: \${WEBHOOK_SECRET}`))
    const done = await cli(["validate", file], { cwd: dir, env: { WEBHOOK_SECRET: SECRET } })
    expect(done.code).toBe(0)
    const printed = done.stdout + done.stderr
    expect(printed).toContain(PACKAGE)
    expect(printed).toContain("<redacted>")
    expect(printed).not.toContain(SECRET)
  })

  it("reports a mistake in the plugin's own keys at its line and column, in terms of use", async () => {
    const dir = projectWithPlugin()
    const file = writeFile(dir, "pipelines.yaml", pipeline(`      { use: "${PACKAGE}", url: "http://x", secret: s, timeoutMs: 0, colour: red }`))
    const done = await cli(["validate", file, "--log-format", "text"], { cwd: dir })
    expect(done.code).toBe(2)
    const text = pipeline(`      { use: "${PACKAGE}", url: "http://x", secret: s, timeoutMs: 0, colour: red }`).split("\n")[7]!
    expect(done.stderr).toContain(`pipelines.yaml:8:${text.indexOf("timeoutMs: 0") + "timeoutMs: ".length + 1}: pipelines[0].sink.timeoutMs: must be a positive whole number`)
    expect(done.stderr).toContain(`pipelines.yaml:8:${text.indexOf("colour") + 1}: pipelines[0].sink.colour: unknown key; expected one of: "url" | "secret" | "timeoutMs" | "maxInFlight" | "use"`)
    expect(done.stderr).not.toContain('"type"')
    expect(done.stderr).not.toMatch(stackLine)
  })
})

describe("use: takes ${VAR} references like any value", () => {
  it("resolves ${VAR:-default} to the default, and to the variable when it is set", async () => {
    const dir = projectWithPlugin()
    const file = writeFile(dir, "pipelines.yaml", pipeline(`      use: \${PLUGIN_PKG:-${PACKAGE}}\n      url: http://127.0.0.1:1/hook\n      secret: s`))
    const byDefault = await cli(["validate", file], { cwd: dir, env: { PLUGIN_PKG: undefined } })
    expect(byDefault.code, byDefault.stderr).toBe(0)
    expect(byDefault.stdout + byDefault.stderr).toContain(PACKAGE)
    // Set, the variable wins: a package that is not installed is refused by its name.
    const set = await cli(["validate", file, "--log-format", "text"], { cwd: dir, env: { PLUGIN_PKG: "@acme/featbit-export-sink-elsewhere" } })
    expect(set.code).toBe(2)
    expect(set.stderr).toContain('pipelines.yaml:8:7: pipelines[0].sink.use: cannot find the package "@acme/featbit-export-sink-elsewhere"')
  })

  it("reports a missing variable in use: as a missing variable in a value, at its line and column, with the file's other mistakes", async () => {
    const dir = projectWithPlugin()
    const block = `      use: \${PLUGIN_PKG}\n      url: \${HOOK_URL}\n      secret: s`
    const flow = `      { use: "\${PLUGIN_PKG}", url: "\${HOOK_URL}", secret: s }`
    for (const sink of [block, flow]) {
      const text = pipeline(sink)
      const file = writeFile(dir, "pipelines.yaml", text)
      const done = await cli(["validate", file, "--log-format", "text"], { cwd: dir, env: { PLUGIN_PKG: undefined, HOOK_URL: undefined } })
      expect(done.code).toBe(2)
      expect(done.stderr).not.toMatch(stackLine)
      const lines = text.split("\n")
      const at = (needle: string) => {
        const line = lines.findIndex((l) => l.includes(needle))
        return `${line + 1}:${lines[line]!.indexOf(needle) + 1}`
      }
      const usePlace = at(sink === flow ? '"${PLUGIN_PKG}"' : "${PLUGIN_PKG}")
      const urlPlace = at(sink === flow ? '"${HOOK_URL}"' : "${HOOK_URL}")
      expect(done.stderr).toContain(`pipelines.yaml:${usePlace}: pipelines[0].sink.use: environment variable PLUGIN_PKG is not set (write \${PLUGIN_PKG:-default} to give a default)`)
      expect(done.stderr).toContain(`pipelines.yaml:${urlPlace}: pipelines[0].sink.url: environment variable HOOK_URL is not set (write \${HOOK_URL:-default} to give a default)`)
      expect(done.stderr).not.toContain('"type"')
    }
  })
})

/** Runs `validate` on a pipeline whose sink is `use: name`, with `files` as the package at node_modules/name. */
const refusal = async (name: string, files: Record<string, string> | undefined) => {
  const dir = tempDir()
  for (const [file, text] of Object.entries(files ?? {})) writeFile(path.join(dir, "node_modules", name), file, text)
  const file = writeFile(dir, "pipelines.yaml", pipeline(`      use: "${name}"\n      url: http://127.0.0.1:1/hook`))
  return cli(["validate", file, "--log-format", "text"], { cwd: dir })
}

const oneSentenceAtUse = (done: { code: number | null; stdout: string; stderr: string }) => {
  expect(done.code).toBe(2)
  expect(done.stderr).not.toMatch(stackLine)
  const lines = done.stderr.trim().split("\n")
  expect(lines).toHaveLength(1)
  expect(lines[0]).toMatch(/^.*pipelines\.yaml:8:7: pipelines\[0\]\.sink\.use: [^.]+(\.[^ ][^.]*)*\S$/)
  return lines[0]!
}

describe("the runner refuses, at the line of use:", () => {
  it("a package that is not installed, listing the built-in types", async () => {
    const line = oneSentenceAtUse(await refusal("@acme/featbit-export-sink-missing", undefined))
    expect(line).toContain('cannot find the package "@acme/featbit-export-sink-missing"')
    expect(line).toContain("file, segment, eventhub")
  })

  it("a package that is not a plugin", async () => {
    const line = oneSentenceAtUse(
      await refusal("left-pad-ish", {
        "package.json": JSON.stringify({ name: "left-pad-ish", type: "module", exports: "./index.js" }),
        "index.js": "export const pad = (s) => ` ${s}`\nexport default { kind: 'sink', type: 'half' }\n"
      })
    )
    expect(line).toContain('the package "left-pad-ish" is not a featbit-export sink plugin')
  })

  it("a plugin written for another contract", async () => {
    const line = oneSentenceAtUse(
      await refusal("@acme/featbit-export-sink-future", {
        "package.json": JSON.stringify({ name: "@acme/featbit-export-sink-future", type: "module", exports: "./index.js" }),
        "index.js": "export default { kind: 'sink', type: 'future', contract: 99, description: 'x', config: {}, make: () => undefined }\n"
      })
    )
    expect(line).toContain('was written for contract 99, this runner implements contract 1')
  })
})
