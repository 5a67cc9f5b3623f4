// Loaded only by a runner that joins a cluster (run.ts imports this module when it does): @effect/cluster
// and its SQL client more than double a runner's memory at start on Node 24 (about 110 MB).
import * as EntityId from "@effect/cluster/EntityId"
import * as MessageStorage from "@effect/cluster/MessageStorage"
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as RunnerHealth from "@effect/cluster/RunnerHealth"
import * as Runners from "@effect/cluster/Runners"
import * as Sharding from "@effect/cluster/Sharding"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as SqlRunnerStorage from "@effect/cluster/SqlRunnerStorage"
import * as PgClient from "@effect/sql-pg/PgClient"
import { CheckpointError, type ClusterSetting, type PostgresStateSetting } from "@featbit-export/core"
import { describe, contextOf } from "@featbit-export/state-postgres"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import pg from "pg"

/** The cluster's own tables beside the state's: featbit_export_cluster_runners and featbit_export_cluster_locks. */
const TABLE_PREFIX = "featbit_export_cluster"

/**
 * Runs each pipeline as a singleton of @effect/cluster on the state database, for as long as the scope is
 * open: exactly one runner at a time holds the shard a pipeline maps to, and runs `body` for it; when that
 * runner stops or dies its shards (and pipelines) move to the others. No transport between runners is
 * needed for singletons: liveness is the runners' heartbeat rows, ownership the shard locks.
 *
 * The cluster gives no fencing token, so `body` must claim the pipeline's checkpoint (a new epoch) when it
 * starts: a runner that lost its shard while paused is refused at its next commit.
 *
 * Spread: the cluster balances shards, not pipelines, over the runners. With `spread: even` there are as
 * many shards as pipelines and each pipeline gets a shard of its own (its singleton's name is chosen so that
 * it hashes there), so N runners take about pipelines / N each. With `spread: hash` the names hash into 300
 * shards, and pipelines may share a runner while another has none.
 */
export const runAsSingletons = (options: {
  readonly state: PostgresStateSetting
  readonly cluster: ClusterSetting
  readonly runner: string
  readonly pipelines: ReadonlyArray<{ readonly name: string; readonly body: Effect.Effect<void> }>
}): Effect.Effect<void, CheckpointError, Scope.Scope> => {
  const url = Redacted.value(options.state.url)
  const context = contextOf(url)
  const expiry = Duration.toMillis(options.cluster.lockExpiry)
  const refresh = Math.min(Duration.toMillis(options.cluster.lockRefresh), expiry / 3)
  const even = options.cluster.spread === "even"
  const config = ShardingConfig.layer({
    // An identity only: with no transport between runners, nothing listens on it.
    runnerAddress: Option.some(RunnerAddress.make(options.runner, 0)),
    shardsPerGroup: even ? Math.max(1, options.pipelines.length) : 300,
    shardLockExpiration: Duration.millis(expiry),
    shardLockRefreshInterval: Duration.millis(refresh),
    shardLockDisableAdvisory: !options.cluster.advisoryLocks,
    refreshAssignmentsInterval: options.cluster.assignInterval,
    // Paces the loop that acquires shards: a runner that joins or a shard freed is picked up this soon.
    entityMessagePollInterval: options.cluster.assignInterval
  })
  const client = PgClient.layerFromPool({
    acquire: Effect.acquireRelease(
      Effect.sync(() => {
        // keepAlive: a runner whose host vanished without closing its connection is noticed by the server.
        const pool = new pg.Pool({ connectionString: url, max: 4, keepAlive: true, connectionTimeoutMillis: 10_000, application_name: `featbit-export ${options.runner}`.slice(0, 63) })
        pool.on("error", () => undefined)
        return pool
      }),
      (pool) => Effect.promise(() => pool.end().catch(() => undefined))
    ),
    applicationName: "featbit-export"
  })
  const sharding = Sharding.layer.pipe(
    Layer.provide(Runners.layerNoop),
    Layer.provide(RunnerHealth.layerNoop),
    Layer.provide(MessageStorage.layerNoop),
    Layer.provide(SqlRunnerStorage.layerWith({ prefix: TABLE_PREFIX })),
    Layer.provide(config),
    Layer.provide(client)
  )
  return Effect.gen(function* () {
    // Runners that start together would race to create the cluster's tables (CREATE TABLE IF NOT EXISTS
    // is not safe concurrently in PostgreSQL): one at a time joins, under an advisory lock.
    const cluster = yield* oneAtATime(url, Effect.map(Layer.build(sharding), Context.get(Sharding.Sharding)))
    // By name, so that every runner, whatever the order of its file, gives each pipeline the same shard.
    const sorted = [...options.pipelines].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    for (const [i, pipeline] of sorted.entries()) {
      const name = even ? singletonNameFor(pipeline.name, i + 1, (candidate) => cluster.getShardId(EntityId.make(candidate), "default").id) : `pipeline/${pipeline.name}`
      yield* cluster.registerSingleton(name, pipeline.body)
    }
  }).pipe(Effect.mapError((error) => new CheckpointError({ message: describe(error, context, "joining the other runners").message, cause: error })))
}

/** Runs `effect` holding a session advisory lock of the state database, released when it is done. */
const oneAtATime = <A, E, R>(url: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | unknown, R> =>
  Effect.acquireUseRelease(
    Effect.tryPromise(async () => {
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 })
      client.on("error", () => undefined)
      await client.connect()
      await client.query("SELECT pg_advisory_lock(hashtext('featbit_export_cluster_join'))")
      return client
    }),
    () => effect,
    (client) => Effect.promise(() => client.query("SELECT pg_advisory_unlock(hashtext('featbit_export_cluster_join'))").then(() => client.end()).catch(() => client.end().catch(() => undefined)))
  )

/** `pipeline/<name>`, or the first `pipeline/<name>#k` that hashes to `shard`: found within a few times the shard count. */
const singletonNameFor = (pipeline: string, shard: number, shardOf: (name: string) => number): string => {
  for (let k = 0; ; k++) {
    const candidate = k === 0 ? `pipeline/${pipeline}` : `pipeline/${pipeline}#${k}`
    if (shardOf(candidate) === shard) return candidate
  }
}
