import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import { SinkError, SourceError } from "../src/Errors.js"
import { defaultRetryPolicy, type RetryableFailure, RetryPolicy, retrySchedule } from "../src/Retry.js"

const policy = (initialDelayMs: number, maxDelayMs: number, maxRetries: number): RetryPolicy =>
  Schema.decodeUnknownSync(RetryPolicy)({ initialDelay: `${initialDelayMs}ms`, maxDelay: `${maxDelayMs}ms`, maxRetries })

const transient = (message = "HTTP 503") => SinkError.transient("test-sink", message)
const fatal = (message = "HTTP 401: check the write key") => SinkError.fatal("test-sink", message)

/**
 * Runs an operation under `retrySchedule` in a fiber. `outcome(n)` decides the n-th attempt (1-based): a
 * failure, or undefined for success. `times` records the TestClock time of every attempt.
 */
const start = <E extends RetryableFailure>(retry: RetryPolicy, outcome: (attempt: number) => E | undefined) =>
  Effect.gen(function* () {
    const times: Array<number> = []
    const operation = Effect.gen(function* () {
      times.push(yield* Clock.currentTimeMillis)
      const failure = outcome(times.length)
      if (failure !== undefined) return yield* Effect.fail(failure)
      return "delivered" as const
    })
    const fiber = yield* Effect.fork(Effect.retry(operation, retrySchedule<E>(retry)))
    yield* Effect.yieldNow()
    return { times, fiber }
  })

const gaps = (times: ReadonlyArray<number>): Array<number> => times.slice(1).map((time, i) => time - times[i]!)

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  return Option.getOrThrow(Cause.failureOption(exit.cause))
}

describe("retrySchedule: how many attempts", () => {
  it.effect("retries a retryable failure maxRetries times, then fails with it", () =>
    Effect.gen(function* () {
      const { times, fiber } = yield* start(policy(100, 1000, 5), (n) => transient(`HTTP 503 #${n}`))
      yield* TestClock.adjust(Duration.hours(1))
      const exit = yield* Fiber.await(fiber)
      expect(times).toHaveLength(1 + 5)
      expect(failureOf(exit).message).toBe("HTTP 503 #6")
    })
  )

  it.effect("uses the default of 10 retries", () =>
    Effect.gen(function* () {
      const { times, fiber } = yield* start(defaultRetryPolicy, () => transient())
      yield* TestClock.adjust(Duration.hours(1))
      yield* Fiber.await(fiber)
      expect(times).toHaveLength(1 + 10)
    })
  )

  it.effect("maxRetries 0 means a single attempt", () =>
    Effect.gen(function* () {
      const { times, fiber } = yield* start(policy(100, 1000, 0), () => transient())
      yield* TestClock.adjust(Duration.hours(1))
      expect(Exit.isFailure(yield* Fiber.await(fiber))).toBe(true)
      expect(times).toHaveLength(1)
    })
  )

  it.effect("does not retry a failure that is not retryable", () =>
    Effect.gen(function* () {
      const { times, fiber } = yield* start(policy(100, 1000, 5), () => fatal())
      yield* TestClock.adjust(Duration.hours(1))
      const exit = yield* Fiber.await(fiber)
      expect(times).toHaveLength(1)
      expect(failureOf(exit).retryable).toBe(false)
    })
  )

  it.effect("stops at the first failure that is not retryable", () =>
    Effect.gen(function* () {
      const { times, fiber } = yield* start(policy(100, 1000, 5), (n) => (n < 3 ? transient() : fatal()))
      yield* TestClock.adjust(Duration.hours(1))
      const exit = yield* Fiber.await(fiber)
      expect(times).toHaveLength(3)
      expect(failureOf(exit).message).toMatch(/write key/)
    })
  )

  it.effect("succeeds once an attempt succeeds", () =>
    Effect.gen(function* () {
      const { times, fiber } = yield* start(policy(100, 1000, 5), (n) => (n <= 2 ? transient() : undefined))
      yield* TestClock.adjust(Duration.hours(1))
      expect(yield* Fiber.join(fiber)).toBe("delivered")
      expect(times).toHaveLength(3)
    })
  )

  it.effect("works for source errors too", () =>
    Effect.gen(function* () {
      const { times, fiber } = yield* start(policy(100, 1000, 2), () => SourceError.transient("test-source", "reset"))
      yield* TestClock.adjust(Duration.hours(1))
      yield* Fiber.await(fiber)
      expect(times).toHaveLength(3)
    })
  )
})

describe("retrySchedule: how long it waits", () => {
  const initial = 100
  const max = 1000
  // The n-th wait (n from 0) lies in [0, min(maxDelay, initialDelay * 2^n)].
  const bound = (n: number) => Math.min(max, initial * 2 ** n)
  const epsilon = 1e-6

  it.effect("every wait lies within [0, min(maxDelay, initialDelay * 2^n)], for many random seeds", () =>
    Effect.gen(function* () {
      let positive = 0
      for (let seed = 0; seed < 40; seed++) {
        const { times, fiber } = yield* start(policy(initial, max, 8), () => transient()).pipe(
          Effect.withRandom(Random.make(seed))
        )
        yield* TestClock.adjust(Duration.hours(1))
        yield* Fiber.await(fiber)
        expect(times).toHaveLength(9)
        gaps(times).forEach((gap, n) => {
          expect(gap, `seed ${seed}, wait ${n}`).toBeGreaterThanOrEqual(0)
          expect(gap, `seed ${seed}, wait ${n}`).toBeLessThanOrEqual(bound(n) + epsilon)
          if (gap > 0) positive++
        })
      }
      // jitter, not a fixed zero wait
      expect(positive).toBeGreaterThan(40 * 8 * 0.9)
    })
  )

  it.effect("after waiting the bound of the n-th wait, the next attempt has happened", () =>
    Effect.gen(function* () {
      const { times, fiber } = yield* start(policy(initial, max, 6), () => transient())
      while (times.length < 7) {
        // the wait pending now is wait n (n waits are behind us); it started at or before the current time
        const n = times.length - 1
        yield* TestClock.adjust(Duration.millis(bound(n)))
        expect(times.length, `wait ${n}`).toBeGreaterThan(n + 1)
      }
      expect(Exit.isFailure(yield* Fiber.await(fiber))).toBe(true)
    })
  )

  it.effect("with the random draw at its top, waits grow by doubling up to maxDelay (capped exponential)", () =>
    Effect.gen(function* () {
      const { times, fiber } = yield* start(policy(initial, max, 7), () => transient()).pipe(
        Effect.withRandom(Random.fixed([0.999]))
      )
      yield* TestClock.adjust(Duration.hours(1))
      yield* Fiber.await(fiber)
      const waits = gaps(times)
      expect(waits).toHaveLength(7)
      waits.forEach((gap, n) => {
        expect(gap, `wait ${n}`).toBeGreaterThanOrEqual(bound(n) * 0.99)
        expect(gap, `wait ${n}`).toBeLessThanOrEqual(bound(n) + epsilon)
      })
    })
  )

  it.effect("with the random draw at zero, it retries without waiting (full jitter starts at 0)", () =>
    Effect.gen(function* () {
      const { times, fiber } = yield* start(policy(initial, max, 4), () => transient()).pipe(
        Effect.withRandom(Random.fixed([0]))
      )
      yield* TestClock.adjust(Duration.millis(1))
      yield* Fiber.await(fiber)
      expect(times).toHaveLength(5)
      expect(gaps(times).every((gap) => gap === 0)).toBe(true)
    })
  )

  it.effect("waits exactly retryAfter when the failure carries it, not earlier", () =>
    Effect.gen(function* () {
      const failure = SinkError.transient("test-sink", "HTTP 429", { retryAfter: Duration.seconds(4) })
      const { times, fiber } = yield* start(policy(initial, max, 3), (n) => (n === 1 ? failure : undefined))
      yield* TestClock.adjust(Duration.millis(3999))
      expect(times).toHaveLength(1)
      yield* TestClock.adjust(Duration.millis(1))
      expect(times).toHaveLength(2)
      expect(times[1]! - times[0]!).toBe(4000)
      expect(yield* Fiber.join(fiber)).toBe("delivered")
    })
  )

  it.effect("honours a retryAfter longer than maxDelay", () =>
    Effect.gen(function* () {
      const failure = SinkError.transient("test-sink", "HTTP 429", { retryAfter: Duration.seconds(10) })
      const { times, fiber } = yield* start(policy(initial, max, 3), (n) => (n === 1 ? failure : undefined))
      yield* TestClock.adjust(Duration.millis(9999))
      expect(times).toHaveLength(1)
      yield* TestClock.adjust(Duration.millis(1))
      expect(times).toHaveLength(2)
      yield* Fiber.join(fiber)
    })
  )

  it.effect("caps a retryAfter of a day at ten minutes", () =>
    Effect.gen(function* () {
      const failure = SinkError.transient("test-sink", "HTTP 429", { retryAfter: Duration.days(1) })
      const { times, fiber } = yield* start(policy(initial, max, 3), (n) => (n === 1 ? failure : undefined))
      yield* TestClock.adjust(Duration.minutes(10).pipe(Duration.subtract(Duration.millis(1))))
      expect(times).toHaveLength(1)
      yield* TestClock.adjust(Duration.millis(1))
      expect(times).toHaveLength(2)
      expect(yield* Fiber.join(fiber)).toBe("delivered")
    })
  )

  it.effect("a 429 between ordinary failures leaves the count of ordinary retries as it was", () =>
    Effect.gen(function* () {
      const busy = SinkError.transient("test-sink", "HTTP 503")
      const limited = SinkError.transient("test-sink", "HTTP 429", { retryAfter: Duration.seconds(1) })
      // 503, 429, 503, 503: with maxRetries 2 the third 503 is one too many.
      const { times, fiber } = yield* start(policy(initial, max, 2), (n) => (n === 2 ? limited : busy))
      yield* TestClock.adjust(Duration.hours(1))
      expect(Exit.isFailure(yield* Fiber.await(fiber))).toBe(true)
      expect(times).toHaveLength(4)
    })
  )

  it.effect("waits a destination asked for do not use up maxRetries, up to 20 more", () =>
    Effect.gen(function* () {
      const failure = SinkError.transient("test-sink", "HTTP 429", { retryAfter: Duration.seconds(1) })
      const { times, fiber } = yield* start(policy(initial, max, 2), () => failure)
      yield* TestClock.adjust(Duration.hours(1))
      expect(Exit.isFailure(yield* Fiber.await(fiber))).toBe(true)
      // The first attempt, then maxRetries (2) + 20 polite retries, each one second apart.
      expect(times).toHaveLength(23)
      expect(gaps(times).every((gap) => gap === 1000)).toBe(true)
    })
  )
})

describe("RetryPolicy: the retry block of a pipeline file", () => {
  const decode = Schema.decodeUnknownEither(RetryPolicy)
  const refusal = (input: unknown) => {
    const result = decode(input)
    if (result._tag === "Right") throw new Error(`expected ${JSON.stringify(input)} to be refused`)
    return result.left.issue
  }

  it("keeps the defaults, 200ms, 30s and 10 retries", () => {
    expect(Duration.toMillis(defaultRetryPolicy.initialDelay)).toBe(200)
    expect(Duration.toMillis(defaultRetryPolicy.maxDelay)).toBe(30_000)
    expect(defaultRetryPolicy.maxRetries).toBe(10)
  })

  it("refuses initialDelay above maxDelay, on initialDelay when it was given", () => {
    const issue = refusal({ initialDelay: "1m", maxDelay: "30s" })
    expect(issue._tag).toBe("Refinement")
    const pointer = (issue as { issue: { _tag: string; path: unknown; issue: { message: string } } }).issue
    expect(pointer._tag).toBe("Pointer")
    expect(pointer.path).toBe("initialDelay")
    expect(pointer.issue.message).toBe("initialDelay (1m) is longer than maxDelay (30s): the first wait would already pass the cap; lower initialDelay, or raise maxDelay above it")
  })

  it("puts the sentence on maxDelay when only maxDelay was lowered below the default initialDelay", () => {
    const pointer = (refusal({ maxDelay: "100ms" }) as { issue: { path: unknown; issue: { message: string } } }).issue
    expect(pointer.path).toBe("maxDelay")
    expect(pointer.issue.message).toMatch(/^initialDelay \(200ms\) is longer than maxDelay \(100ms\).*raise maxDelay/)
  })

  it("accepts initialDelay equal to maxDelay, and zero waits", () => {
    expect(decode({ initialDelay: "1s", maxDelay: "1s" })._tag).toBe("Right")
    expect(decode({ initialDelay: 0, maxDelay: 0 })._tag).toBe("Right")
  })

  it("refuses bare numbers of milliseconds and negative retries", () => {
    expect(decode({ initialDelay: 100 })._tag).toBe("Left")
    expect(decode({ maxRetries: -1 })._tag).toBe("Left")
    expect(decode({ maxRetries: 1.5 })._tag).toBe("Left")
  })
})
