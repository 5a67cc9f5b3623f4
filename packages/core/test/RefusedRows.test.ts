import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { SinkError } from "../src/Errors.js"
import type { ExportEvent } from "../src/Event.js"
import { type RefusedRowSearch, writeSettingAsideRefused } from "../src/RefusedRows.js"

interface Row {
  readonly event: ExportEvent
  readonly n: number
}
const rowsOf = (count: number): Array<Row> => Array.from({ length: count }, (_, n) => ({ n, event: { id: `id-${n}` } as ExportEvent }))

/** A destination holding what it stored; it refuses every row in `refused`, naming the first (1-based, as COPY does) when `names`. */
const destination = (refused: ReadonlySet<number>, options: { names: boolean; down?: boolean; maxWrites?: number }) => {
  const stored: Array<number> = []
  let writes = 0
  const search: RefusedRowSearch<Row> = {
    write: (rows) =>
      Effect.suspend(() => {
        writes += 1
        if (options.down === true) return Effect.fail({ kind: "down" })
        const at = rows.findIndex((row) => refused.has(row.n))
        if (at >= 0) return Effect.fail({ kind: "refused", line: at + 1, n: rows[at]!.n })
        stored.push(...rows.map((row) => row.n))
        return Effect.void
      }),
    isRefusal: (error) => (error as { kind: string }).kind === "refused",
    locate: (error) => (options.names ? (error as { line: number }).line - 1 : undefined),
    reason: (error, row) => `row ${row.n} refused (said ${(error as { n: number }).n})`,
    failed: (error) => new SinkError({ plugin: "test", message: `failed: ${(error as { kind: string }).kind}`, retryable: true }),
    exhausted: () => new SinkError({ plugin: "test", message: "too many refused", retryable: false }),
    maxWrites: options.maxWrites ?? 40
  }
  return { search, stored, writes: () => writes }
}

describe("writeSettingAsideRefused", () => {
  it.effect("writes every row when none is refused, in one write", () =>
    Effect.gen(function* () {
      const target = destination(new Set(), { names: false })
      expect(yield* writeSettingAsideRefused(target.search, rowsOf(500))).toEqual([])
      expect(target.stored).toEqual(rowsOf(500).map((row) => row.n))
      expect(target.writes()).toBe(1)
    }))

  it.effect("finds refused rows by halves when the destination does not name them, and stores all the others once", () =>
    Effect.gen(function* () {
      const refused = new Set([3, 250, 251, 499])
      // Each refused row costs about two writes per halving (log2 500 is about 9).
      const target = destination(refused, { names: false, maxWrites: 80 })
      const rejected = yield* writeSettingAsideRefused(target.search, rowsOf(500))
      expect(rejected.map((r) => r.event.id).sort()).toEqual([...refused].map((n) => `id-${n}`).sort())
      expect(rejected.find((r) => r.event.id === "id-250")!.reason).toBe("row 250 refused (said 250)")
      expect([...target.stored].sort((a, b) => a - b)).toEqual(rowsOf(500).map((row) => row.n).filter((n) => !refused.has(n)))
    }))

  it.effect("sets aside the row the destination names, one write per refusal", () =>
    Effect.gen(function* () {
      const refused = new Set([10, 20, 30])
      const target = destination(refused, { names: true })
      const rejected = yield* writeSettingAsideRefused(target.search, rowsOf(100))
      expect(rejected.map((r) => r.event.id)).toEqual(["id-10", "id-20", "id-30"])
      expect(target.stored.length).toBe(97)
      expect(target.writes()).toBe(4)
    }))

  it.effect("takes a first write already made: its error starts the search without writing the rows again first", () =>
    Effect.gen(function* () {
      const target = destination(new Set([7]), { names: true })
      const rejected = yield* writeSettingAsideRefused(target.search, rowsOf(50), { error: { kind: "refused", line: 8, n: 7 } })
      expect(rejected.map((r) => r.event.id)).toEqual(["id-7"])
      expect(target.writes()).toBe(1)
      expect(target.stored.length).toBe(49)
    }))

  it.effect("fails the run as a whole when refusals outlast its writes, and passes other failures through", () =>
    Effect.gen(function* () {
      const everyOther = destination(new Set(rowsOf(400).filter((row) => row.n % 2 === 0).map((row) => row.n)), { names: false })
      const exhausted = yield* Effect.either(writeSettingAsideRefused(everyOther.search, rowsOf(400)))
      expect(Either.isLeft(exhausted) && exhausted.left.message).toBe("too many refused")
      expect(everyOther.writes()).toBe(41)
      const down = destination(new Set(), { names: false, down: true })
      const failed = yield* Effect.either(writeSettingAsideRefused(down.search, rowsOf(10)))
      expect(Either.isLeft(failed) && [failed.left.message, failed.left.retryable]).toEqual(["failed: down", true])
    }))
})
