import { type ConfigError, type ExportEvent, FlagValueEvent, MetricEvent, type PipelineFile, type TransformTest } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { isDeepStrictEqual } from "node:util"
import type { Args } from "../Args.js"
import type { Output } from "../Output.js"
import { loadFile, selectPipelines } from "../Pipelines.js"

/**
 * Example events a test's `input` is laid over: a test names only the fields it is about. They look like
 * what FeatBit stores (a flag evaluation, a `track()` metric), with ids that say they are examples.
 */
const exampleFlagValue: ExportEvent = {
  event: "FlagValue",
  id: "00000000-0000-4000-8000-000000000001",
  envId: "example-env",
  distinctId: "example-env-example-flag",
  timestamp: "2026-01-01T00:00:00.000000Z" as ExportEvent["timestamp"],
  user: { keyId: "example-user", name: "Example User" },
  route: "/Variation/GetMultiOptionVariation",
  accountId: "",
  projectId: "",
  tags: {},
  properties: {},
  flagId: "example-env-example-flag",
  flagKey: "example-flag",
  variationId: "00000000-0000-4000-8000-0000000000aa",
  sendToExperiment: false
}

const exampleMetric = (kind: string): ExportEvent =>
  ({
    event: kind,
    id: "00000000-0000-4000-8000-000000000002",
    envId: "example-env",
    distinctId: "example-user",
    timestamp: "2026-01-01T00:00:00.000000Z",
    user: { keyId: "example-user", name: "Example User" },
    route: "/",
    accountId: "",
    projectId: "",
    tags: {},
    properties: {},
    eventName: "example-metric",
    numericValue: 1,
    applicationType: "Javascript"
  }) as ExportEvent

const inputEvent = (input: Readonly<Record<string, unknown>>): ExportEvent => {
  const kind = typeof input["event"] === "string" ? input["event"] : "FlagValue"
  // A copy: the transform reshapes the event it is given, and the example's maps are shared by every test.
  return structuredClone({ ...(kind === "FlagValue" ? exampleFlagValue : exampleMetric(kind)), ...input }) as ExportEvent
}

/** What differs between the expected fields and the result, one line each (only the expected keys are compared). */
const differences = (expected: Readonly<Record<string, unknown>>, actual: Readonly<Record<string, unknown>>, prefix = ""): Array<string> =>
  Object.entries(expected).flatMap(([key, want]) => {
    const got = actual[key]
    if (isDeepStrictEqual(got, want)) return []
    const isMap = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v)
    if (isMap(want) && isMap(got)) return differences(want, got, `${prefix}${key}.`)
    return [`${prefix}${key}: expected ${JSON.stringify(want)}, got ${got === undefined ? "nothing (no such field)" : JSON.stringify(got)}`]
  })

/** The verdict on one test: undefined when it passed, else the lines saying why not. */
const decodeOptions = { onExcessProperty: "error", errors: "all" } as const
const decodeFlagValue = Schema.decodeUnknownEither(FlagValueEvent, decodeOptions)
const decodeMetric = Schema.decodeUnknownEither(MetricEvent, decodeOptions)
const decodeEvent = (event: ExportEvent): Either.Either<ExportEvent, ParseResult.ParseError> =>
  event.event === "FlagValue" ? decodeFlagValue(event) : decodeMetric(event)

const verdict = (pipeline: PipelineFile.PipelineConfig, test: TransformTest): ReadonlyArray<string> | undefined => {
  // A misspelt field would otherwise be carried along unnoticed, and the test would prove nothing.
  const decoded = decodeEvent(inputEvent(test.input))
  if (Either.isLeft(decoded)) {
    return ParseResult.ArrayFormatter.formatErrorSync(decoded.left).map((issue) => `input.${issue.path.join(".")}: ${issue.message.slice(0, 300)}`)
  }
  const event = decoded.right
  const outcome = pipeline.transformStep?.apply(event) ?? { _tag: "Keep" as const, event, fields: undefined }
  const wantFiltered = test.filtered === true
  if (outcome._tag === "Failed") return [`an expression failed: ${outcome.reason}`]
  if (outcome._tag === "Filtered") return wantFiltered ? undefined : ["the filter dropped the event, where the test expects it exported"]
  if (wantFiltered) return ["the event was exported, where the test expects the filter to drop it"]
  const { sink, ...fields } = test.expect ?? {}
  const lines = differences(fields, outcome.event as unknown as Record<string, unknown>)
  if (sink !== undefined) {
    if (typeof sink !== "object" || sink === null) lines.push("expect.sink must be a map of the sink's mapped fields")
    else lines.push(...differences(sink as Record<string, unknown>, outcome.fields ?? {}, "sink."))
  }
  return lines.length === 0 ? undefined : lines
}

/**
 * `featbit-export test <file>`: runs each pipeline's `tests:` (an input event, the expected fields or
 * `filtered: true`) through its filter, transform and sink map, without connecting anywhere.
 */
export const testCommand = (args: Args, registry: PipelineFile.PluginRegistry, output: Output): Effect.Effect<number, ConfigError> =>
  Effect.gen(function* () {
    const file = yield* loadFile(args, registry)
    const selected = yield* selectPipelines(file, args.pipelines)
    let passed = 0
    let failed = 0
    for (const pipeline of selected) {
      for (const [index, test] of (pipeline.tests ?? []).entries()) {
        const name = `${pipeline.name}: ${test.name ?? `tests[${index}]`}`
        const lines = verdict(pipeline, test)
        if (lines === undefined) {
          passed += 1
          output.report(`ok    ${name}`, { message: "test passed", pipeline: pipeline.name, test: test.name ?? index })
        } else {
          failed += 1
          output.report(`FAIL  ${name}\n${lines.map((line) => `        ${line}`).join("\n")}`, {
            level: "error",
            message: "test failed",
            pipeline: pipeline.name,
            test: test.name ?? index,
            differences: lines
          })
        }
      }
    }
    const total = passed + failed
    output.report(
      total === 0 ? `${file.file} has no tests: add tests: to a pipeline (see docs/transforms.md)` : `${passed} of ${total} test${total === 1 ? "" : "s"} passed`,
      { message: "tests", passed, failed }
    )
    return failed === 0 ? 0 : 1
  })
