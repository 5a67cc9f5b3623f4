import { existsSync } from "node:fs"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { fileError } from "../src/internal/errors.js"
import { events, openSink, tempDir } from "./support.js"

describe("errors", () => {
  it.scoped("a file path that exists as a folder fails for good, naming the path", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "events.ndjson")
      yield* Effect.promise(() => fs.mkdir(file))
      const error = yield* Effect.flip(
        openSink({ path: file }, { pipeline: "p", baseDir: dir }).pipe(
          Effect.flatMap((sink) => sink.write({ events: events(0, 1), sequence: 0 }))
        )
      )
      expect(error._tag).toBe("SinkError")
      expect(error.retryable).toBe(false)
      expect(error.plugin).toBe("file")
      expect(error.message).toContain(file)
    })
  )

  for (const [label, target] of [
    ["a file", "blocker/events.ndjson"],
    ["a folder", "blocker/"],
    ["a nested file", "blocker/deeper/events.ndjson"]
  ] as const) {
    it.scoped(`${label} below a regular file fails for good, naming the path and the file in the way`, () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const blocker = path.join(dir, "blocker")
        yield* Effect.promise(() => fs.writeFile(blocker, "not a folder\n"))
        const error = yield* Effect.flip(
          openSink({ path: target }, { pipeline: "p", baseDir: dir }).pipe(
            Effect.flatMap((sink) => sink.write({ events: events(0, 1), sequence: 0 }))
          )
        )
        expect(error._tag).toBe("SinkError")
        expect(error.retryable).toBe(false)
        expect(error.message).toContain(path.resolve(dir, target.endsWith("/") ? `${target}p.ndjson` : target))
        expect(error.message).toContain(`${blocker} is a file`)
        // The file in the way is left as it was.
        expect(yield* Effect.promise(() => fs.readFile(blocker, "utf8"))).toBe("not a folder\n")
      })
    )
  }

  it.scoped("a folder path through a symbolic link that points nowhere fails for good, naming the link", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const link = path.join(dir, "link")
      yield* Effect.promise(() => fs.symlink(path.join(dir, "gone", "target"), link))
      const error = yield* Effect.flip(openSink({ path: `${link}/deeper/` }, { pipeline: "p", baseDir: dir }))
      expect(error.retryable).toBe(false)
      expect(error.message).toContain(path.join(link, "deeper", "p.ndjson"))
      expect(error.message).toContain(`${link} is a symbolic link`)
    })
  )

  // Node's own recursive mkdir never settles here; the sink must answer instead of hanging.
  it.scoped.skipIf(!existsSync("/proc/self"))("a folder the system refuses to create fails for good", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(openSink({ path: "/proc/featbit-export-test/" }, { pipeline: "p", baseDir: "/" }))
      expect(error.retryable).toBe(false)
      expect(error.message).toContain("/proc/featbit-export-test/p.ndjson")
    }).pipe(Effect.timeout("5 seconds"), Effect.orDie)
  )

  // /dev/full fails every write with ENOSPC: a real full device, as the kernel reports it.
  it.scoped.skipIf(!existsSync("/dev/full"))("a full disk is a transient failure the engine retries", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "full.ndjson")
      yield* Effect.promise(() => fs.symlink("/dev/full", file))
      const sink = yield* openSink({ path: file }, { pipeline: "p", baseDir: dir })
      const error = yield* Effect.flip(sink.write({ events: events(0, 2), sequence: 0 }))
      expect(error.retryable).toBe(true)
      expect(error.message).toContain(file)
      expect(error.message).toMatch(/space/)
    })
  )

  describe("system error codes", () => {
    const errno = (code: string) =>
      Object.assign(new Error(`${code}: something, rename '/elsewhere/a' -> '/elsewhere/b'`), { code })

    it("disk full, quota, I/O and try-again are retried", () => {
      for (const code of ["ENOSPC", "EDQUOT", "EIO", "EAGAIN"]) {
        expect(fileError("/x/y.ndjson", errno(code)).retryable, code).toBe(true)
      }
    })

    it("what a person must fix stops the pipeline with one sentence naming the path", () => {
      for (const code of ["EACCES", "EPERM", "EROFS", "EISDIR", "ENOTDIR", "ENAMETOOLONG"]) {
        const error = fileError("/x/y.ndjson", errno(code))
        expect(error.retryable, code).toBe(false)
        expect(error.message, code).toMatch(/^cannot write \/x\/y\.ndjson: [^\n]+; [^\n]+$/)
        expect(error.message, code).not.toContain("/elsewhere")
      }
    })

    it("an error nobody classified stops the pipeline rather than retrying forever", () => {
      expect(fileError("/x/y.ndjson", errno("EWHATEVER")).retryable).toBe(false)
      expect(fileError("/x/y.ndjson", new TypeError("boom")).retryable).toBe(false)
    })
  })
})
