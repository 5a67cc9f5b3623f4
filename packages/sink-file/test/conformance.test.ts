// The sink conformance suite, run as any plugin author would run it. A file cannot be made to fail on
// demand (the faults live in the file system), so the transient, fatal and poison cases are skipped here;
// this package's own tests cover those errors with real ENOSPC, ENOTDIR and EISDIR failures.
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import type { ExportEvent } from "@featbit-export/core"
import { sinkConformance } from "@featbit-export/testkit"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { FileSink } from "../src/index.js"

const tempDir = Effect.acquireRelease(
  Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "sink-conformance-"))),
  (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
)

sinkConformance("file", {
  make: () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const config = Schema.decodeUnknownSync(FileSink.config)({ path: "out/events.ndjson" })
      const sink = yield* FileSink.make(config, { pipeline: "conformance", baseDir: dir })
      const delivered = Effect.promise(async () => {
        const text = await fs.readFile(path.join(dir, "out/events.ndjson"), "utf8").catch(() => "")
        return text.split("\n").filter((line) => line !== "").map((line) => (JSON.parse(line) as ExportEvent).id)
      })
      return { sink, delivered: () => delivered }
    })
})

