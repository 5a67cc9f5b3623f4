// The conformance suites, run against the generate source (which cannot depend on this kit, since the kit
// generates its rows with it) and against the test doubles themselves: the doubles support every fault,
// so every case of the suites runs at least once. Other built-ins run the suites in their own packages.
import * as os from "node:os"
import { type ExportEvent, SinkError } from "@featbit-export/core"
import { GenerateSource } from "@featbit-export/source-generate"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { makeMemorySource, makeRecordingSink, sinkConformance, sourceConformance } from "../src/index.js"

sourceConformance("generate", {
  make: (_, spec) =>
    GenerateSource.make(Schema.decodeUnknownSync(GenerateSource.config)({ ...spec }), { pipeline: "conformance", baseDir: os.tmpdir() })
})

sourceConformance("memory (test double)", { make: (rows) => Effect.succeed(makeMemorySource(rows)) })

sinkConformance("recording (test double)", {
  supports: ["transient", "fatal", "poison"],
  make: () =>
    Effect.sync(() => {
      const sink = makeRecordingSink()
      let fatal = false
      const guarded = {
        ...sink,
        write: (batch: Parameters<typeof sink.write>[0]) =>
          fatal ? Effect.fail(SinkError.fatal("recording", "write key refused (injected)")) : sink.write(batch)
      }
      return {
        sink: guarded,
        delivered: () => Effect.sync(() => sink.delivered.map((event) => event.id)),
        injectTransient: (times: number) => Effect.sync(() => sink.script(...Array.from({ length: times }, () => ({ _tag: "Transient" as const })))),
        injectFatal: () => Effect.sync(() => void (fatal = true)),
        poison: (event: ExportEvent) => {
          sink.rejectIds.add(event.id)
          return event
        }
      }
    })
})
