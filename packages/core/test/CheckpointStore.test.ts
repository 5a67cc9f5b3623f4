import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as CheckpointStore from "../src/CheckpointStore.js"
import type { Timestamp } from "../src/Timestamp.js"

const checkpoint = (pipeline: string, exported: number, id = "4be3e7b9-3db7-4537-8e46-b2831f579bcf"): CheckpointStore.Checkpoint => ({
  version: 1,
  pipeline,
  cursor: { timestamp: "2023-12-12T07:42:13.320123Z" as Timestamp, id },
  committedAt: "2024-01-02T03:04:05.000Z",
  exported,
  deadLettered: 2
})

/** A fresh temporary folder, removed when the test's scope closes. */
const tempDir = Effect.acquireRelease(
  Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "featbit-export-checkpoints-"))),
  (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
)

const list = (dir: string) => Effect.promise(() => fs.readdir(dir))

describe("CheckpointStore.makeFile", () => {
  it.scoped("keeps a version 2 checkpoint's source state, selection and late totals, and still reads version 1", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const store = CheckpointStore.makeFile(dir)
      const v2: CheckpointStore.Checkpoint = {
        ...checkpoint("flags", 7),
        version: 2,
        state: { width: 10_000, origin: 174_000_000, counts: [3, 0, 12], mark: "981" },
        selection: { source: "postgres", table: "featbit.public.events", envIds: ["env-a"], events: null },
        late: 4,
        missed: 1
      }
      yield* store.save(v2)
      expect(yield* store.load("flags")).toEqual(Option.some(v2))
      yield* store.save(checkpoint("metrics", 3))
      const v1 = Option.getOrThrow(yield* store.load("metrics"))
      expect(v1.version).toBe(1)
      expect(v1.late).toBeUndefined()
    })
  )

  it.scopedLive("load of a pipeline never saved is None, even when the folder does not exist yet", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      expect(Option.isNone(yield* CheckpointStore.makeFile(dir).load("flags"))).toBe(true)
      expect(Option.isNone(yield* CheckpointStore.makeFile(path.join(dir, "not", "yet")).load("flags"))).toBe(true)
    })
  )

  it.scopedLive("save then load round trips, creating the folder", () =>
    Effect.gen(function* () {
      const dir = path.join(yield* tempDir, "state")
      const store = CheckpointStore.makeFile(dir)
      yield* store.save(checkpoint("flags", 42))
      expect(yield* store.load("flags")).toEqual(Option.some(checkpoint("flags", 42)))
      // another store on the same folder (a restarted runner) sees it too
      expect(yield* CheckpointStore.makeFile(dir).load("flags")).toEqual(Option.some(checkpoint("flags", 42)))
    })
  )

  it.scopedLive("keeps one entry per pipeline, and a later save replaces an earlier one", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const store = CheckpointStore.makeFile(dir)
      yield* store.save(checkpoint("flags", 1))
      yield* store.save(checkpoint("metrics", 7))
      yield* store.save(checkpoint("flags", 2, "ffffffff-3db7-4537-8e46-b2831f579bcf"))
      expect(yield* store.load("flags")).toEqual(Option.some(checkpoint("flags", 2, "ffffffff-3db7-4537-8e46-b2831f579bcf")))
      expect(yield* store.load("metrics")).toEqual(Option.some(checkpoint("metrics", 7)))
    })
  )

  it.scopedLive("writes a readable JSON file named after the pipeline", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* CheckpointStore.makeFile(dir).save(checkpoint("flags", 42))
      const file = CheckpointStore.checkpointFile(dir, "flags")
      expect(path.dirname(file)).toBe(dir)
      expect(path.basename(file)).toContain("flags")
      const text = yield* Effect.promise(() => fs.readFile(file, "utf8"))
      expect(JSON.parse(text)).toEqual(checkpoint("flags", 42))
    })
  )

  it.scopedLive("reset removes the checkpoint and returns true, then false", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const store = CheckpointStore.makeFile(dir)
      yield* store.save(checkpoint("flags", 42))
      yield* store.save(checkpoint("metrics", 7))
      expect(yield* store.reset("flags")).toBe(true)
      expect(Option.isNone(yield* store.load("flags"))).toBe(true)
      expect(yield* store.reset("flags")).toBe(false)
      // the other pipeline is untouched
      expect(Option.isSome(yield* store.load("metrics"))).toBe(true)
      expect(yield* CheckpointStore.makeFile(path.join(dir, "missing")).reset("flags")).toBe(false)
    })
  )

  it.scopedLive("a damaged file is a CheckpointError naming the file and saying how to reset", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const store = CheckpointStore.makeFile(dir)
      const file = CheckpointStore.checkpointFile(dir, "flags")
      for (const damage of ['{"version":1,"pipeline":"fla', "", "null", JSON.stringify({ ...checkpoint("flags", 1), version: 3 }), JSON.stringify({ ...checkpoint("flags", 1), cursor: { timestamp: "yesterday", id: "x" } })]) {
        yield* Effect.promise(() => fs.writeFile(file, damage))
        const error = yield* Effect.flip(store.load("flags"))
        expect(error._tag, damage).toBe("CheckpointError")
        expect(error.message, damage).toContain(file)
        expect(error.message, damage).toMatch(/reset/)
        expect(error.message, damage).toContain("flags")
        // Said in a person's words, not the schema's.
        expect(error.message, damage).not.toMatch(/parseJson|<->|Encoded side|Struct|Union/)
      }
    })
  )

  it.scopedLive("a damaged file says what is wrong with it: not JSON, empty, or which field", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const store = CheckpointStore.makeFile(dir)
      const file = CheckpointStore.checkpointFile(dir, "flags")
      const reason = (text: string) =>
        Effect.gen(function* () {
          yield* Effect.promise(() => fs.writeFile(file, text))
          const message = (yield* Effect.flip(store.load("flags"))).message
          return message.slice(message.indexOf("is damaged (") + "is damaged (".length, message.indexOf("); restore it"))
        })
      expect(yield* reason('{"version":1,"pipeline":"fla')).toMatch(/^it is not valid JSON: /)
      expect(yield* reason("  \n")).toBe("it is empty")
      expect(yield* reason(JSON.stringify({ ...checkpoint("flags", 1), exported: "many" }))).toMatch(/^exported: /)
      expect(yield* reason(JSON.stringify({ ...checkpoint("flags", 1), cursor: { timestamp: "yesterday", id: "x" } }))).toMatch(/^cursor\.timestamp: /)
    })
  )

  it.scopedLive("a checkpoint folder that cannot be read is a CheckpointError, not a defect", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const notAFolder = path.join(dir, "file")
      yield* Effect.promise(() => fs.writeFile(notAFolder, "x"))
      const store = CheckpointStore.makeFile(notAFolder)
      const loadError = yield* Effect.flip(store.load("flags"))
      expect(loadError._tag).toBe("CheckpointError")
      expect(loadError.message).toContain(notAFolder)
      const saveError = yield* Effect.flip(store.save(checkpoint("flags", 1)))
      expect(saveError._tag).toBe("CheckpointError")
      expect(saveError.message).toContain(notAFolder)
    })
  )

  it.scopedLive("leaves no temporary files behind after saves", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const store = CheckpointStore.makeFile(dir)
      for (let i = 0; i < 5; i++) yield* store.save(checkpoint("flags", i))
      yield* store.save(checkpoint("metrics", 1))
      expect((yield* list(dir)).sort()).toEqual(
        [path.basename(CheckpointStore.checkpointFile(dir, "flags")), path.basename(CheckpointStore.checkpointFile(dir, "metrics"))].sort()
      )
    })
  )

  it.scopedLive("concurrent saves of one pipeline all succeed, leave one whole checkpoint and no temporary file", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const store = CheckpointStore.makeFile(dir)
      const saves = Array.from({ length: 10 }, (_, i) => store.save(checkpoint("flags", i)))
      const results = yield* Effect.all(saves.map(Effect.either), { concurrency: "unbounded" })
      expect(results.filter((result) => result._tag === "Left")).toEqual([])
      const loaded = Option.getOrThrow(yield* store.load("flags"))
      expect(loaded.exported).toBeGreaterThanOrEqual(0)
      expect(loaded.exported).toBeLessThan(10)
      expect(yield* list(dir)).toEqual([path.basename(CheckpointStore.checkpointFile(dir, "flags"))])
    })
  )

  it.scopedLive("concurrent saves of different pipelines all land", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const store = CheckpointStore.makeFile(dir)
      const names = Array.from({ length: 8 }, (_, i) => `pipeline-${i}`)
      yield* Effect.all(
        names.map((name, i) => store.save(checkpoint(name, i))),
        { concurrency: "unbounded" }
      )
      for (const [i, name] of names.entries()) {
        expect(yield* store.load(name)).toEqual(Option.some(checkpoint(name, i)))
      }
      expect((yield* list(dir)).filter((file) => file.endsWith(".tmp"))).toEqual([])
    })
  )
})

describe("CheckpointStore.makeMemory", () => {
  it.effect("load, save, reset", () =>
    Effect.gen(function* () {
      const entries = new Map<string, CheckpointStore.Checkpoint>()
      const store = CheckpointStore.makeMemory(entries)
      expect(Option.isNone(yield* store.load("flags"))).toBe(true)
      yield* store.save(checkpoint("flags", 1))
      yield* store.save(checkpoint("flags", 2))
      expect(yield* store.load("flags")).toEqual(Option.some(checkpoint("flags", 2)))
      expect(entries.get("flags")).toEqual(checkpoint("flags", 2))
      expect(yield* store.reset("flags")).toBe(true)
      expect(yield* store.reset("flags")).toBe(false)
      expect(Option.isNone(yield* store.load("flags"))).toBe(true)
      expect(entries.size).toBe(0)
    })
  )

  it.effect("is reachable through its layer", () =>
    Effect.gen(function* () {
      const entries = new Map<string, CheckpointStore.Checkpoint>()
      yield* Effect.gen(function* () {
        const store = yield* CheckpointStore.CheckpointStore
        yield* store.save(checkpoint("flags", 3))
      }).pipe(Effect.provide(CheckpointStore.layerMemory(entries)))
      expect(entries.get("flags")?.exported).toBe(3)
    })
  )
})
