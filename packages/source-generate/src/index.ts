import { DateTimeSetting, PositiveInt, SourceError, defineSource } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { makeGenerateSource } from "./GenerateSource.js"
import { MAX_TIE_LIMIT } from "./Generator.js"

export { type GenerateSourceConfig, makeGenerateSource } from "./GenerateSource.js"
export { type GenerateOptions, MAX_TIE_LIMIT, generateRows, generateRowsAfter } from "./Generator.js"
export {
  type FlagDefinition,
  applicationTypes,
  defaultEnvIds,
  defaultStart,
  eventNames,
  flagValueRoute,
  flags,
  metricRoute,
  users
} from "./Pools.js"

const NonNegativeInt = Schema.Int.pipe(Schema.greaterThanOrEqualTo(0))


/** The `generate` source: deterministic synthetic FeatBit events, like Vector's demo_logs. */
export const GenerateSource = defineSource({
  type: "generate",
  description:
    "Deterministic synthetic FeatBit events (FlagValue and metric rows shaped like FeatBit's ClickHouse rows) for demos, tests and benchmarks",
  config: Schema.Struct({
    count: Schema.optionalWith(NonNegativeInt, { default: () => 1000 }).annotations({
      description: "Events to generate; the source has caught up after them (default 1000)"
    }),
    seed: Schema.optionalWith(Schema.Int, { default: () => 1 }).annotations({
      description: "The same seed generates the same events (default 1)"
    }),
    // Annotations of a plain `optional` field stay off the JSON Schema, so they go on the value's schema.
    envIds: Schema.optional(
      Schema.NonEmptyArray(Schema.NonEmptyString).annotations({
        description: "Environment ids the events are spread over (default: two fixed GUIDs)"
      })
    ),
    start: Schema.optional(
      DateTimeSetting.annotations({
        description: "Time of the first event, a UTC date-time such as 2024-01-01T00:00:00Z (the default)"
      })
    ),
    maxTie: Schema.optionalWith(PositiveInt.pipe(Schema.lessThanOrEqualTo(MAX_TIE_LIMIT)), { default: () => 4 }).annotations({
      description: "At most this many events share one timestamp (default 4; 1 = never)"
    }),
    tieBurst: Schema.optionalWith(NonNegativeInt, { default: () => 0 }).annotations({
      description: "The first N events all share one timestamp, to test ties across pages (default 0)"
    }),
    malformedEvery: Schema.optionalWith(NonNegativeInt, { default: () => 0 }).annotations({
      description: "Every N-th event gets properties that cannot be decoded, to test dead letters (default 0 = never)"
    }),
    pageSize: Schema.optional(
      PositiveInt.annotations({ description: "Events per page; overrides the pipeline's batch.size" })
    )
  }),
  make: (config) =>
    Effect.try({
      try: () => makeGenerateSource(config),
      catch: (error) => SourceError.fatal("generate", (error as Error).message, error)
    })
})
