import { type PipelineFile, type Sink, SinkError, accepted, defineSink, defineSource } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { vi } from "vitest"
import { main } from "../src/main.js"
import { builtins } from "../src/Plugins.js"

/** What a test sink saw: the secrets it was given, and every write attempt by batch sequence. */
export interface SinkLog {
  readonly writeKeys: Array<string>
  readonly attempts: Array<number>
}

export interface SinkBehaviour {
  /** The write of this batch fails: fatally, or `transientTimes` times before it succeeds. */
  readonly failAt?: number
  readonly transientTimes?: number
  /** The write of this batch waits for `until` (forever when absent), like a slow destination. */
  readonly holdAt?: number
  readonly until?: Promise<void>
}

/** A sink with a secret in its configuration, like Segment's write key, that behaves as told. */
export const vaultSink = (log: SinkLog, behaviour: SinkBehaviour = {}) =>
  defineSink({
    type: "vault",
    description: "test sink with a secret",
    config: Schema.Struct({ writeKey: Schema.Redacted(Schema.String), region: Schema.optional(Schema.String) }),
    make: (config) =>
      Effect.sync((): Sink => {
        log.writeKeys.push(Redacted.value(config.writeKey))
        let failures = 0
        return {
          write: (batch) =>
            Effect.suspend(() => {
              log.attempts.push(batch.sequence)
              if (batch.sequence === behaviour.holdAt) {
                const until = behaviour.until
                return until === undefined ? Effect.never : Effect.promise(() => until).pipe(Effect.as(accepted))
              }
              if (batch.sequence !== behaviour.failAt) return Effect.succeed(accepted)
              if (behaviour.transientTimes === undefined) {
                return Effect.fail(SinkError.fatal("vault", "the destination refused the write key (401); check writeKey"))
              }
              if (failures++ < behaviour.transientTimes) return Effect.fail(SinkError.transient("vault", "the destination is busy (503)"))
              return Effect.succeed(accepted)
            }),
          check: Effect.succeed(["authenticated"])
        }
      })
  })

/** A second source type, so messages about unknown types have several to list. */
export const silentSource = defineSource({
  type: "silence",
  description: "test source that never has events",
  config: Schema.Struct({}),
  make: () => Effect.succeed({ read: () => Stream.empty })
})

export const registryWith = (log: SinkLog, behaviour?: SinkBehaviour): PipelineFile.PluginRegistry => ({
  sources: [...builtins.sources, silentSource],
  sinks: [...builtins.sinks, vaultSink(log, behaviour)]
})

/**
 * Runs the CLI in this process and returns its exit code and everything it wrote to stdout and stderr
 * (which is not shown). Give it absolute paths.
 */
export const runMain = async (argv: ReadonlyArray<string>, registry: PipelineFile.PluginRegistry) => {
  let stdout = ""
  let stderr = ""
  const capture = (into: (text: string) => void) => (chunk: string | Uint8Array, ...rest: Array<unknown>) => {
    into(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"))
    const callback = rest.find((arg) => typeof arg === "function") as (() => void) | undefined
    callback?.()
    return true
  }
  const out = vi.spyOn(process.stdout, "write").mockImplementation(capture((text) => void (stdout += text)) as typeof process.stdout.write)
  const err = vi.spyOn(process.stderr, "write").mockImplementation(capture((text) => void (stderr += text)) as typeof process.stderr.write)
  try {
    const code = await main(argv, registry)
    return { code, stdout, stderr }
  } finally {
    out.mockRestore()
    err.mockRestore()
  }
}
