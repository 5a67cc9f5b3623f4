import { Timestamp } from "@featbit-export/core"
import type { Source, SourcePage } from "@featbit-export/core"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

export const ENV_A = "env-aaaa"
export const ENV_B = "env-bbbb"

/** A uuid-shaped id whose text order is its number's order. */
export const uuid = (n: number): string => `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`

/** A FeatBit Standard FlagValue document. */
export const flagDoc = (n: number, at: Date, envId = ENV_A): Record<string, unknown> => ({
  _id: uuid(n),
  distinct_id: "flag-1",
  env_id: envId,
  event: "FlagValue",
  properties: {
    route: "/",
    flagId: "flag-1",
    envId,
    accountId: "acc",
    projectId: "prj",
    featureFlagKey: "new-checkout",
    sendToExperiment: n % 2 === 0,
    userKeyId: `user-${n}`,
    userName: `User ${n}`,
    variationId: "v-on",
    timestamp: at.getTime(),
    tag_0: "web"
  },
  timestamp: at
})

/** A FeatBit Standard CustomEvent document with the given numericValue (a bson Int32/Double or a number). */
export const metricDoc = (n: number, at: Date, numericValue: unknown, envId = ENV_A): Record<string, unknown> => ({
  _id: uuid(n),
  distinct_id: "user-1",
  env_id: envId,
  event: "CustomEvent",
  properties: {
    route: "/pay",
    type: "CustomEvent",
    eventName: "checkout",
    numericValue,
    user: { keyId: "user-1", name: "Ann" },
    applicationType: "Javascript",
    projectId: "prj",
    accountId: "acc",
    tag_0: "web"
  },
  timestamp: at
})

export const T0 = new Date("2025-03-01T10:00:00.000Z")
export const at = (ms: number): Date => new Date(T0.getTime() + ms)
export const ts = (date: Date) => Timestamp.fromDate(date)

export const readAll = (source: Source, pageSize: number, from?: Parameters<Source["read"]>[0]): Effect.Effect<ReadonlyArray<SourcePage>, unknown> =>
  source.read(from, { pageSize }).pipe(Stream.runCollect, Effect.map(Chunk.toReadonlyArray))

export const ids = (pages: ReadonlyArray<SourcePage>): Array<string> => pages.flatMap((page) => page.events.map((event) => event.id))

export const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>): Promise<A> => Effect.runPromise(Effect.scoped(effect))
export const runExit = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) => Effect.runPromiseExit(Effect.scoped(effect))
