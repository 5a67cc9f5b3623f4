import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { ExportEvent, type PluginContext, type Sink, type SinkError } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { FileSink } from "../src/index.js"

/** A fresh, empty folder under the system's temp folder, removed when the test's scope closes. */
export const tempDir: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "sink-file-"))),
  (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
)

/** Decodes `config` as a pipeline file would, then opens the sink in the current scope. */
export const openSink = (
  config: Record<string, unknown>,
  context: PluginContext
): Effect.Effect<Sink, SinkError, Scope.Scope> =>
  Schema.decodeUnknown(FileSink.config)(config).pipe(
    Effect.orDie,
    Effect.flatMap((decoded) => FileSink.make(decoded, context))
  )

const decodeEvent = Schema.decodeUnknownSync(ExportEvent)

const common = (i: number) => ({
  id: `00000000-0000-4000-8000-${i.toString().padStart(12, "0")}`,
  envId: "env-1",
  distinctId: `user-${i % 7}`,
  timestamp: `2024-03-01T10:00:${String(i % 60).padStart(2, "0")}.${String(i).padStart(6, "0").slice(-6)}Z`,
  user: { keyId: `user-${i % 7}`, name: `Zoë "Q" O'Brien 名前 ${i} 😀\u2028` },
  route: "/checkout?step=\"2\"",
  accountId: "acc-1",
  projectId: "proj-1",
  tags: { tag_0: "beta", tag_1: "ünïcode" }
})

/** A flag evaluation whose strings carry quotes, a line break, non-ASCII text and an emoji. */
export const flagValue = (i: number): ExportEvent =>
  decodeEvent({
    event: "FlagValue",
    ...common(i),
    properties: { flagKey: `new-checkout-"${i}"`, nested: { list: [1, "two", null] } },
    flagId: `flag-${i}`,
    flagKey: `new-checkout-"${i}"\nsecond line`,
    variationId: "var-ü",
    sendToExperiment: i % 2 === 0
  })

/** A `track()` metric with the same awkward text. */
export const customEvent = (i: number): ExportEvent =>
  decodeEvent({
    event: "CustomEvent",
    ...common(i),
    ingestedAt: "2024-03-01T10:01:00.000001Z",
    properties: { value: i * 1.5 },
    eventName: `clicked "Buy" ✓ ${i}`,
    numericValue: i * 1.5,
    applicationType: "Javascript"
  })

/** `count` events starting at `from`, alternating between the two kinds. */
export const events = (from: number, count: number): Array<ExportEvent> =>
  Array.from({ length: count }, (_, k) => ((from + k) % 2 === 0 ? flagValue(from + k) : customEvent(from + k)))

/** The parsed lines of `files`, in order; fails the test if a file does not end with a whole line. */
export const readLines = (files: ReadonlyArray<string>): Effect.Effect<Array<unknown>> =>
  Effect.promise(async () => {
    const lines: Array<unknown> = []
    for (const file of files) {
      const text = await fs.readFile(file, "utf8")
      if (text.length > 0 && !text.endsWith("\n")) throw new Error(`${file} does not end with a newline`)
      for (const line of text.split("\n").slice(0, -1)) lines.push(JSON.parse(line))
    }
    return lines
  })

/** Runs `effect` with a logger that keeps the warning messages it logs. */
export const capturingWarnings = <A, E, R>(effect: Effect.Effect<A, E, R>, into: Array<string>) =>
  effect.pipe(
    Effect.provide(
      Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ logLevel, message }) => {
          if (logLevel._tag === "Warning") into.push(Array.isArray(message) ? message.join(" ") : String(message))
        })
      )
    )
  )
