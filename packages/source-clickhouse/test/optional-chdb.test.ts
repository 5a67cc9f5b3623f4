// chdb is an optional peer dependency: a machine without it must run HTTP pipelines, and a chdb: url must
// say how to install it. A child process runs the built package with a module hook that makes `chdb`
// unresolvable, as on a machine where it was never installed.
import { execFileSync } from "node:child_process"
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { afterAll, describe, expect, it } from "vitest"

const dist = fileURLToPath(new URL("../dist/index.js", import.meta.url))
const folder = mkdtempSync(join(tmpdir(), "featbit-export-no-chdb-"))
afterAll(() => rmSync(folder, { recursive: true, force: true }))

writeFileSync(
  join(folder, "hooks.mjs"),
  `export async function resolve(specifier, context, next) {
  if (specifier === "chdb" || specifier.startsWith("chdb/")) {
    throw Object.assign(new Error("Cannot find package 'chdb' imported from " + context.parentURL), { code: "ERR_MODULE_NOT_FOUND" })
  }
  return next(specifier, context)
}
`
)
writeFileSync(join(folder, "register.mjs"), `import { register } from "node:module"\nregister(${JSON.stringify(pathToFileURL(join(folder, "hooks.mjs")).href)})\n`)

/** Opens the plugin in a child without chdb and prints what happened. */
const openWithoutChdb = (url: string): { opened: boolean; message?: string; retryable?: boolean } => {
  const script = `
    import * as Effect from "effect/Effect"
    import * as Schema from "effect/Schema"
    import { ClickHouseSource } from ${JSON.stringify(pathToFileURL(dist).href)}
    const config = Schema.decodeUnknownSync(ClickHouseSource.config)({ url: ${JSON.stringify(url)} })
    const result = await Effect.runPromise(Effect.scoped(Effect.either(ClickHouseSource.make(config, { pipeline: "p", baseDir: ${JSON.stringify(folder)} }))))
    console.log(JSON.stringify(result._tag === "Right" ? { opened: true } : { opened: false, message: result.left.message, retryable: result.left.retryable }))
  `
  const out = execFileSync(process.execPath, ["--import", pathToFileURL(join(folder, "register.mjs")).href, "--input-type=module", "-e", script], {
    cwd: fileURLToPath(new URL("..", import.meta.url)),
    encoding: "utf8"
  })
  return JSON.parse(out.trim().split("\n").pop()!)
}

describe.skipIf(!existsSync(dist))(`without the optional chdb package${existsSync(dist) ? "" : " (skipped: build the package first)"}`, () => {
  it("an http: url opens: chdb is never loaded for it", () => {
    expect(openWithoutChdb("http://127.0.0.1:8123")).toEqual({ opened: true })
  })

  it("a chdb: url fails fatally, saying how to install chdb", () => {
    const result = openWithoutChdb("chdb:.")
    expect(result.opened).toBe(false)
    expect(result.retryable).toBe(false)
    expect(result.message).toMatch(/^a chdb: url needs the optional package chdb .*install it beside featbit-export with `npm install chdb`/)
  })
})
