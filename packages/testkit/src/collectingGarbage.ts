import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as v8 from "node:v8"
import * as vm from "node:vm"

/**
 * Forces a full garbage collection every `everyMs` while the scope is open, in this process (no
 * `--expose-gc` needed); returns how many ran, so a test can show they did. A deadline built on a timer that
 * nothing references (`AbortSignal.any([.., AbortSignal.timeout()])` on Node 20) is collected and never fires
 * under it: tests of deadlines run with it.
 */
export const collectingGarbage = (everyMs: number): Effect.Effect<() => number, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      v8.setFlagsFromString("--expose-gc")
      const gc = vm.runInNewContext("gc") as () => void
      let runs = 0
      const timer = setInterval(() => {
        gc()
        runs++
      }, everyMs)
      return { timer, count: () => runs }
    }),
    ({ timer }) => Effect.sync(() => clearInterval(timer))
  ).pipe(Effect.map(({ count }) => count))
