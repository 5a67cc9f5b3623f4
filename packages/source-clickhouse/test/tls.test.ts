import * as Effect from "effect/Effect"
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { closeEngine, engine, freshTable, openSource, type TestTable } from "./support/chdb.js"
import { type HttpFront, startHttpFront } from "@featbit-export/testkit"

const hasOpenssl = (() => {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
})()

describe.skipIf(!hasOpenssl)(`HTTPS with a private CA (${hasOpenssl ? "openssl makes the certificate" : "skipped: no openssl to make a certificate"})`, () => {
  let folder: string
  let front: HttpFront
  let where: TestTable

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), "featbit-export-tls-"))
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
      "-keyout", join(folder, "key.pem"), "-out", join(folder, "ca.pem"),
      "-subj", "/CN=clickhouse.test", "-addext", "subjectAltName=IP:127.0.0.1"
    ], { stdio: "ignore" })
    front = await startHttpFront({ engine: engine(), tls: { key: readFileSync(join(folder, "key.pem"), "utf8"), cert: readFileSync(join(folder, "ca.pem"), "utf8") } })
    where = await freshTable([])
  })

  afterAll(async () => {
    await front.close()
    await closeEngine()
    rmSync(folder, { recursive: true, force: true })
  })

  const check = (config: Record<string, unknown>) =>
    Effect.runPromise(Effect.scoped(Effect.either(Effect.flatMap(openSource({ url: front.url, database: where.database, ...config }, { pipeline: "p", baseDir: folder }), (s) => s.check!))))

  it("trusts the server with tls.caFile, relative to the pipeline file's folder", async () => {
    const result = await check({ tls: { caFile: "ca.pem" } })
    expect(result._tag).toBe("Right")
    if (result._tag === "Right") expect(result.right[0]).toMatch(new RegExp(`^connected to ClickHouse .* at ${front.url} as user "default"$`))
  })

  it("without the CA, fails fatally with a sentence pointing at the TLS settings", async () => {
    const result = await check({})
    expect(result._tag).toBe("Left")
    if (result._tag === "Left") {
      expect(result.left.retryable).toBe(false)
      expect(result.left.message).toMatch(new RegExp(`^cannot open a TLS connection to ${front.url} \\(DEPTH_ZERO_SELF_SIGNED_CERT: .*check the url and the tls settings \\(caFile\\)$`))
    }
  })
})
