import { DateTimeSetting, PositiveInt, SourceError, defineSource } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { DEFAULT_FLAGS, MAX_FLAGS } from "./FlagPool.js"
import { makeGenerateSource } from "./GenerateSource.js"
import { MAX_TIE_LIMIT } from "./Generator.js"
import { RateSetting } from "./RateSetting.js"
import { DEFAULT_USERS, MAX_USERS } from "./UserPool.js"

export { DEFAULT_FLAGS, type FlagDefinition, MAX_FLAGS, flagPool, handWrittenFlags } from "./FlagPool.js"
export { type GenerateSourceConfig, makeGenerateSource } from "./GenerateSource.js"
export { type GenerateOptions, MAX_TIE_LIMIT, generateRows, generateRowsAfter } from "./Generator.js"
export { applicationTypes, defaultEnvIds, defaultStart, eventNames, flagValueRoute, handWrittenUsers, metricRoute } from "./Pools.js"
export { RateSetting } from "./RateSetting.js"
export { MAX_RATE, MIN_RATE } from "./RateTimeline.js"
export { DEFAULT_USERS, MAX_USERS, userPool } from "./UserPool.js"

const NonNegativeInt = Schema.Int.pipe(Schema.greaterThanOrEqualTo(0))
/** Events a source generates when neither `count` nor `rate` says otherwise. */
const DEFAULT_COUNT = 1000

/** The `generate` source: deterministic synthetic FeatBit events, like Vector's demo_logs. */
export const GenerateSource = defineSource({
  type: "generate",
  description:
    "Deterministic synthetic FeatBit events (FlagValue and metric rows shaped like FeatBit's ClickHouse rows) for demos, tests and benchmarks",
  config: Schema.Struct({
    // No default here: with `rate` and no count the events never end, so the default is applied in `make`.
    count: Schema.optional(
      NonNegativeInt.annotations({
        description: "Events to generate; the source has caught up after them (default 1000; with rate: no limit)"
      })
    ),
    seed: Schema.optionalWith(Schema.Int, { default: () => 1 }).annotations({
      description: "The same seed generates the same events (default 1)"
    }),
    // Annotations of a plain `optional` field stay off the JSON Schema, so they go on the value's schema.
    envIds: Schema.optional(
      Schema.NonEmptyArray(Schema.NonEmptyString).annotations({
        description: "Environment ids the events are spread over (default: two fixed GUIDs)"
      })
    ),
    users: Schema.optionalWith(PositiveInt.pipe(Schema.lessThanOrEqualTo(MAX_USERS)), { default: () => DEFAULT_USERS }).annotations({
      description: `Distinct users the events are spread over, the tricky hand-written names first (default ${DEFAULT_USERS}, at most ${MAX_USERS})`
    }),
    flags: Schema.optionalWith(PositiveInt.pipe(Schema.lessThanOrEqualTo(MAX_FLAGS)), { default: () => DEFAULT_FLAGS }).annotations({
      description: `Distinct feature flags FlagValue events are spread over (default ${DEFAULT_FLAGS}, at most ${MAX_FLAGS})`
    }),
    start: Schema.optional(
      DateTimeSetting.annotations({
        description:
          "Time of the first event, a UTC date-time such as 2024-01-01T00:00:00Z (the default; with rate: when the pipeline starts)"
      })
    ),
    rate: Schema.optional(
      RateSetting.annotations({
        description:
          "Live mode: events per second (200 or 200/s, 30/m, 100/h), each stamped when it is due; a read returns the events due by now, and count becomes optional"
      })
    ),
    maxTie: Schema.optionalWith(PositiveInt.pipe(Schema.lessThanOrEqualTo(MAX_TIE_LIMIT)), { default: () => 4 }).annotations({
      description: "At most this many events share one timestamp (default 4; 1 = never; not with rate)"
    }),
    tieBurst: Schema.optionalWith(NonNegativeInt, { default: () => 0 }).annotations({
      description: "The first N events all share one timestamp, to test ties across pages (default 0; not with rate)"
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
      try: () =>
        makeGenerateSource(config.count === undefined && config.rate === undefined ? { ...config, count: DEFAULT_COUNT } : config),
      catch: (error) => SourceError.fatal("generate", (error as Error).message, error)
    })
})
