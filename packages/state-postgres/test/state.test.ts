import { CheckpointStore, DeadLetter, Pipeline, Secrets, Timestamp } from "@featbit-export/core"
import { generateRows } from "@featbit-export/source-generate"
import { makeMemorySource, makeRecordingSink, testPipelineOptions } from "@featbit-export/testkit"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { SCHEMA_VERSION, openPostgresState } from "../src/index.js"
import { stateDatabase } from "./support.js"

let db: Awaited<ReturnType<typeof stateDatabase>>
beforeAll(async () => {
  db = await stateDatabase()
})
afterAll(async () => db?.drop())

const setting = (extra: { schema?: string; audit?: boolean } = {}) => ({ url: Redacted.make(db.url), schema: extra.schema ?? "public", audit: extra.audit ?? false })
const scoped = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) => Effect.runPromise(Effect.scoped(effect))

const checkpoint = (pipeline: string, n: number): CheckpointStore.Checkpoint => ({
  version: CheckpointStore.CHECKPOINT_VERSION,
  pipeline,
  cursor: { timestamp: `2026-12-01T10:00:${String(n).padStart(2, "0")}.000000Z` as CheckpointStore.Checkpoint["cursor"]["timestamp"], id: `id-${n}` },
  committedAt: new Date().toISOString(),
  exported: n * 100,
  deadLettered: 0
})

const letter = (pipeline: string, id: string): DeadLetter.DeadLetter => ({ at: new Date().toISOString(), pipeline, stage: "sink", plugin: "segment", id, reason: "refused: bad event" })

describe("the tables", () => {
  it("are created on first use, once, by runners that start together; opening again changes nothing", async () => {
    await Promise.all(Array.from({ length: 5 }, () => scoped(openPostgresState(setting({ schema: "together" }), { owner: "r" }))))
    await scoped(openPostgresState(setting({ schema: "together" }), { owner: "r" }))
    const { rows } = await db.pool.query("SELECT version FROM together.featbit_export_migrations ORDER BY version")
    expect(rows.map((r) => r.version)).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1))
    const tables = await db.pool.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'together' ORDER BY 1")
    expect(tables.rows.map((r) => r.table_name)).toEqual(["featbit_export_checkpoints", "featbit_export_commits", "featbit_export_dead_letters", "featbit_export_migrations"])
  })

  it("a database migrated by a newer runner is refused with what to do", async () => {
    await scoped(openPostgresState(setting({ schema: "newer" }), { owner: "r" }))
    await db.pool.query(`INSERT INTO newer.featbit_export_migrations (version) VALUES (${SCHEMA_VERSION + 1})`)
    const error = await scoped(Effect.flip(openPostgresState(setting({ schema: "newer" }), { owner: "r" })))
    expect(error.message).toContain(`its tables are at version ${SCHEMA_VERSION + 1}, newer than this runner's ${SCHEMA_VERSION}: upgrade this runner`)
  })

  it("refused credentials say what to fix, without the password", async () => {
    const url = `postgres://no_such_user:canary-state-pass-77@${new URL(db.url).host}/${db.name}`
    const error = await scoped(Effect.flip(openPostgresState({ url: Redacted.make(url), schema: "public", audit: false }, { owner: "r" })))
    expect(error.message).toMatch(/^the state database \(PostgreSQL at .*\): preparing its tables failed \(28000: .*\); fix the user and password of state.postgres.url$/)
    expect(error.message).not.toContain("canary-state-pass-77")
  })
})

describe("fenced checkpoints", () => {
  it("a claim bumps the epoch and reads the cursor; the earlier owner's commits and dead letters are refused", async () => {
    await scoped(
      Effect.gen(function* () {
        const a = yield* openPostgresState(setting({ audit: true }), { owner: "runner-a" })
        const b = yield* openPostgresState(setting({ audit: true }), { owner: "runner-b" })
        expect(Option.isNone(yield* a.checkpoints.claim!("p1"))).toBe(true)
        yield* a.checkpoints.save(checkpoint("p1", 1))
        yield* a.deadLetters.append("p1", [letter("p1", "e1")])
        // b takes over: it starts where a committed.
        const taken = yield* b.checkpoints.claim!("p1")
        expect(Option.getOrThrow(taken).cursor.id).toBe("id-1")
        // a, resumed, tries to go on: nothing of it lands.
        const refused = yield* Effect.flip(a.checkpoints.save(checkpoint("p1", 2)))
        expect(refused.fenced).toBe(true)
        expect(refused.message).toBe("pipeline p1: another runner took it over: runner runner-b claimed it (epoch 2; this runner's is 1); this runner stops it and writes nothing more for it")
        const letters = yield* Effect.flip(a.deadLetters.append("p1", [letter("p1", "e2")]))
        expect(letters.fenced).toBe(true)
        yield* b.checkpoints.save(checkpoint("p1", 3))
        // Any runner (or tool) reads what b committed.
        const tool = yield* openPostgresState(setting(), { owner: "tool" })
        expect(Option.getOrThrow(yield* tool.checkpoints.load("p1")).cursor.id).toBe("id-3")
        expect(yield* tool.letters("p1").read).toHaveLength(1)
      })
    )
    const audit = await db.pool.query("SELECT epoch::int, owner, cursor_timestamp, cursor_id FROM featbit_export_commits WHERE pipeline = 'p1' ORDER BY id")
    expect(audit.rows).toEqual([
      { epoch: 1, owner: "runner-a", cursor_timestamp: "2026-12-01T10:00:01.000000Z", cursor_id: "id-1" },
      { epoch: 2, owner: "runner-b", cursor_timestamp: "2026-12-01T10:00:03.000000Z", cursor_id: "id-3" }
    ])
  })

  it("a reset forgets the cursor, keeps the row and fences its owner: epochs never repeat", async () => {
    await scoped(
      Effect.gen(function* () {
        const a = yield* openPostgresState(setting(), { owner: "runner-a" })
        yield* a.checkpoints.claim!("p2")
        yield* a.checkpoints.save(checkpoint("p2", 1))
        const tool = yield* openPostgresState(setting(), { owner: "tool" })
        expect(yield* tool.checkpoints.reset("p2")).toBe(true)
        expect(yield* tool.checkpoints.reset("p2")).toBe(false)
        expect(Option.isNone(yield* tool.checkpoints.load("p2"))).toBe(true)
        expect((yield* Effect.flip(a.checkpoints.save(checkpoint("p2", 2)))).message).toContain("another runner took it over: runner runner-a claimed it (epoch 2; this runner's is 1)")
      })
    )
  })

  it("the engine stops a pipeline whose store was claimed by another runner while a batch was at the sink, and commits nothing of it", async () => {
    const rows = [...generateRows({ count: 3_000, seed: 4, users: 50_000, start: Timestamp.fromMillis(Date.now() - 3_600_000) })]
    const source = makeMemorySource(rows)
    const sink = makeRecordingSink({ maxInFlight: 1 })
    const gate = Deferred.unsafeMake<void>(undefined as never)
    // Two batches go through; the third waits at the sink while another runner claims the pipeline.
    sink.script({ _tag: "Delay", duration: "1 millis" }, { _tag: "Delay", duration: "1 millis" }, { _tag: "Hold", gate })
    await scoped(
      Effect.gen(function* () {
        const a = yield* openPostgresState(setting(), { owner: "runner-a" })
        const stores = Layer.merge(Layer.succeed(CheckpointStore.CheckpointStore, a.checkpoints), Layer.succeed(DeadLetter.DeadLetterStore, a.deadLetters))
        const run = yield* Effect.fork(Pipeline.run(testPipelineOptions(source, sink, { name: "p3", batchSize: 1_000, inFlight: 1 })).pipe(Effect.provide(stores)))
        for (let i = 0; i < 500 && sink.attempts() < 3; i++) yield* Effect.sleep("10 millis")
        const b = yield* openPostgresState(setting(), { owner: "runner-b" })
        const taken = Option.getOrThrow(yield* b.checkpoints.claim!("p3"))
        expect(taken.exported).toBe(2_000)
        yield* Deferred.succeed(gate, undefined)
        const exit = yield* Fiber.await(run)
        expect(exit._tag).toBe("Failure")
        expect(JSON.stringify(exit)).toContain("another runner took it over")
        // What a committed is what b reads: the held batch was delivered (at least once) but not committed.
        expect(Option.getOrThrow(yield* b.checkpoints.load("p3")).exported).toBe(2_000)
      })
    )
  })
})

describe("dead letters", () => {
  it("are kept in order as the lines the file store writes, scrubbed; a replace keeps what was appended since the read", async () => {
    const scrubber = Secrets.scrubberOf(["sekrit-in-reason"])
    await scoped(
      Effect.gen(function* () {
        const state = yield* openPostgresState(setting(), { owner: "r", scrubber })
        yield* state.deadLetters.append("p4", [letter("p4", "a"), { ...letter("p4", "b"), reason: "the far end said sekrit-in-reason" }, letter("p4", "c")])
        const box = state.letters("p4")
        const lines = yield* box.read
        expect(lines.map((line) => JSON.parse(line).id)).toEqual(["a", "b", "c"])
        expect(lines.join("\n")).not.toContain("sekrit-in-reason")
        // A run appends while the replay works; the replay keeps only "c", rewritten.
        yield* state.deadLetters.append("p4", [letter("p4", "d")])
        yield* box.replace([lines[2]!.replace("refused: bad event", "refused again")])
        const after = yield* state.letters("p4").read
        expect(after.map((line) => [JSON.parse(line).id, JSON.parse(line).reason])).toEqual([
          ["d", "refused: bad event"],
          ["c", "refused again"]
        ])
        // A replay replaces after each batch: the next replace removes what the last one put back, and only that.
        yield* state.deadLetters.append("p4", [letter("p4", "e")])
        yield* box.replace([])
        expect((yield* state.letters("p4").read).map((line) => JSON.parse(line).id)).toEqual(["d", "e"])
      })
    )
  })
})
