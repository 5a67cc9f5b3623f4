import * as Duration from "effect/Duration"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { DurationSetting, durationAtLeast } from "./Settings.js"

/**
 * Where several runners keep what they share: checkpoints (fenced by an epoch) and dead letters in
 * PostgreSQL, and the cluster's shard locks beside them. The file store stays the default.
 */
export const PostgresStateSetting = Schema.Struct({
  url: Schema.Redacted(Schema.String.pipe(Schema.minLength(1))).annotations({
    description: "The state database, e.g. ${STATE_URL} for postgres://featbit_export:password@db:5432/featbit_export (never printed)"
  }),
  schema: Schema.optionalWith(Schema.String.pipe(Schema.pattern(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/)), { default: () => "public", exact: true }).annotations({
    description: "The schema of the tables (default public); created when missing"
  }),
  audit: Schema.optionalWith(Schema.Boolean, { default: () => false, exact: true }).annotations({
    description: "true: every commit is also recorded in featbit_export_commits (pipeline, epoch, runner, cursor), for audits; the table grows by a row per batch"
  })
})
export type PostgresStateSetting = typeof PostgresStateSetting.Type

const POSTGRES_URL = /^postgres(ql)?:\/\//i

/** `state:` of a file: a folder, a PostgreSQL url, or `{ postgres: { url, schema, audit } }`. */
export const StateSetting = Schema.Union(
  Schema.String.annotations({
    description: "Folder for checkpoints and dead letters, relative to this file (default .featbit-export), or a postgres:// url of a shared state database"
  }),
  Schema.Struct({ postgres: PostgresStateSetting }).annotations({ title: "shared state in PostgreSQL" })
)
export type StateSetting = typeof StateSetting.Type

/** The shared store `state:` names, or undefined for a folder. */
export const sharedStateOf = (state: StateSetting | undefined): PostgresStateSetting | undefined =>
  state === undefined
    ? undefined
    : typeof state === "string"
      ? POSTGRES_URL.test(state)
        ? { url: Redacted.make(state), schema: "public", audit: false }
        : undefined
      : state.postgres

const interval = (name: string, fallback: Duration.DurationInput, what: string) =>
  Schema.optionalWith(DurationSetting.pipe(durationAtLeast(Duration.millis(100), `${name} must be at least 100ms`)), {
    default: () => Duration.decode(fallback),
    exact: true
  }).annotations({ description: what })

/**
 * `cluster:` of a file: how runners sharing a PostgreSQL state divide the pipelines (each a singleton of
 * @effect/cluster). The defaults make a SIGKILLed runner's pipelines move within about 6 s.
 */
export const ClusterSetting = Schema.Struct({
  runner: Schema.optional(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200))).annotations({
    description: "This runner's name among the others, unique per process (default: host name, pid and start time)"
  }),
  lockExpiry: interval("lockExpiry", "6 seconds", "A runner whose heartbeat is older than this is taken for dead and its pipelines move (default 6s)"),
  lockRefresh: interval("lockRefresh", "2 seconds", "How often a runner renews its heartbeat and shard locks (default 2s; at most lockExpiry / 3 is used)"),
  assignInterval: interval("assignInterval", "1 second", "How often a runner looks at the others to rebalance (default 1s)"),
  advisoryLocks: Schema.optionalWith(Schema.Boolean, { default: () => false, exact: true }).annotations({
    description:
      "false (default): shard locks are leases in a table, so a paused runner loses its pipelines after lockExpiry; true: PostgreSQL advisory locks, held by the runner's session even while it is paused"
  }),
  spread: Schema.optionalWith(Schema.Literal("even", "hash"), { default: () => "even", exact: true }).annotations({
    description:
      "even (default): a shard per pipeline, so N runners take about pipelines / N each (every runner must have the same pipelines); hash: pipelines hashed into 300 shards, which may land unevenly (6 on 3 runners landed 4/1/1)"
  })
}).annotations({ description: "How runners sharing state: postgres divide the pipelines" })
export type ClusterSetting = typeof ClusterSetting.Type
