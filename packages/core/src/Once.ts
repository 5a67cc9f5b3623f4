import * as Effect from "effect/Effect"

/**
 * An effect that runs `effect` until it has succeeded once, one caller at a time; after that it does nothing.
 * A failure is not remembered: the next caller tries again (a table created on the first write, say, whose
 * first attempt met a dropped connection).
 */
export const untilSucceeded = <E, R>(effect: Effect.Effect<unknown, E, R>): Effect.Effect<Effect.Effect<void, E, R>> =>
  Effect.map(Effect.makeSemaphore(1), (lock) => {
    let done = false
    const once = Effect.suspend(() => (done ? Effect.void : Effect.asVoid(Effect.tap(effect, () => Effect.sync(() => void (done = true))))))
    return Effect.suspend(() => (done ? Effect.void : lock.withPermits(1)(once)))
  })
