import type { SinkBatch, SinkError } from "@featbit-export/core"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import type { Lane, Plan } from "./plan.js"

/**
 * The pages the sink holds sends of, by id, so that it keeps each partition in cursor order across pages:
 * the engine writes several pages at once (`batch.inFlight`) and retries each one on its own, so a page may
 * send to a partition only once every earlier page's sends to that partition were accepted. A user's events
 * then arrive in cursor order, and one send per partition is in flight at a time.
 */
export interface Ledger {
  /**
   * The page's plan: the one kept from an earlier attempt, or a new one registered at once (before any
   * asynchronous step, so that a later page cannot overtake it). Entering a new page first forgets the
   * plans nobody is running whose sequence is not below it: the engine writes pages in sequence order, so
   * those can only be left over from a run that ended (sequences start at 0 again) and would otherwise
   * hold that run's successor back forever.
   */
  readonly enter: (id: string, batch: SinkBatch) => Effect.Effect<Plan>
  /** Waits until every earlier page's sends to the lane's partition were accepted. */
  readonly awaitTurn: (lane: Lane) => Effect.Effect<void, SinkError>
  /** Marks a lane as accepted in full, which lets the next page's lane of its partition go. */
  readonly finish: (lane: Lane) => Effect.Effect<void>
  /** Forgets a page: after it was accepted, or for good after `error` (its waiters then fail with it too). */
  readonly drop: (plan: Plan, error?: SinkError) => Effect.Effect<void>
}

export const makeLedger = (): Ledger => {
  const plans = new Map<string, Plan>()

  const drop = (plan: Plan, error?: SinkError): Effect.Effect<void> =>
    Effect.gen(function* () {
      plans.delete(plan.id)
      yield* Deferred.succeed(plan.planned, undefined)
      for (const lane of plan.lanes?.values() ?? []) {
        if (lane.done) continue
        yield* error === undefined ? Deferred.succeed(lane.finished, undefined) : Deferred.fail(lane.finished, error)
      }
    })

  const enter = (id: string, { events, fields, sequence }: SinkBatch): Effect.Effect<Plan> =>
    Effect.suspend(() => {
      const kept = plans.get(id)
      if (kept !== undefined) return Effect.succeed(kept)
      const leftOver = [...plans.values()].filter((plan) => plan.active === 0 && plan.sequence >= sequence)
      const plan: Plan = { id, sequence, events, fields, lanes: undefined, planned: Deferred.unsafeMake<void>(FiberId.none), active: 0 }
      plans.set(id, plan)
      return Effect.as(Effect.forEach(leftOver, (stale) => drop(stale), { discard: true }), plan)
    })

  const awaitTurn = (lane: Lane): Effect.Effect<void, SinkError> =>
    Effect.gen(function* () {
      const earlier = [...plans.values()].filter((plan) => plan.sequence < lane.sequence)
      for (const plan of earlier) {
        yield* Deferred.await(plan.planned)
        const before = plan.lanes?.get(lane.partitionId)
        if (before !== undefined && !before.done) yield* Deferred.await(before.finished)
      }
    })

  const finish = (lane: Lane): Effect.Effect<void> =>
    Effect.suspend(() => {
      lane.done = true
      return Deferred.succeed(lane.finished, undefined)
    })

  return { enter, awaitTurn, finish, drop }
}
