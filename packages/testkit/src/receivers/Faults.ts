import { seededRandom } from "./seededRandom.js"

/** Faults played on a share of requests, chosen with a seeded generator. */
export interface SeededFaults<F> {
  readonly probability: number
  readonly seed: number
  readonly kinds: ReadonlyArray<F>
}

/** Which fault, if any, a receiver plays on its next request. */
export interface FaultSchedule<F> {
  /**
   * The fault for this request (undefined: answer normally): the oldest scripted one while any is left,
   * else one drawn from the seeded plan. A fault returned is counted as played.
   */
  readonly next: () => F | undefined
  /**
   * Plays `fault` on the next `count` requests, after those already scripted. Kept as one entry with a
   * countdown rather than `count` copies, so that `Infinity` (every request from now on) works. Nothing is
   * scripted when `count` is not above 0; a receiver that wants a stricter count checks it first.
   */
  readonly script: (fault: F, count: number) => void
  /** Drops the scripted faults not played yet (the seeded plan goes on). */
  readonly clear: () => void
  /** Faults played so far, scripted and seeded. */
  readonly played: () => number
}

/**
 * The scripted-then-seeded fault queue every receiver double plays. The generator is drawn from only when no
 * scripted fault is left, so scripting faults does not shift the seeded schedule that follows.
 */
export const faultSchedule = <F>(plan: SeededFaults<F> | undefined): FaultSchedule<F> => {
  const random = seededRandom(plan?.seed ?? 1)
  const scripted: Array<{ readonly fault: F; remaining: number }> = []
  let played = 0
  const draw = (): F | undefined => {
    const head = scripted[0]
    if (head !== undefined) {
      head.remaining--
      if (head.remaining <= 0) scripted.shift()
      return head.fault
    }
    if (plan === undefined || plan.kinds.length === 0) return undefined
    if (random() >= plan.probability) return undefined
    return plan.kinds[Math.floor(random() * plan.kinds.length)]
  }
  return {
    next: () => {
      const fault = draw()
      if (fault !== undefined) played++
      return fault
    },
    script: (fault, count) => {
      if (count > 0) scripted.push({ fault, remaining: count })
    },
    clear: () => void (scripted.length = 0),
    played: () => played
  }
}
