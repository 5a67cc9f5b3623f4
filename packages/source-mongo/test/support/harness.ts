import type { Source, SourceError } from "@featbit-export/core"
import { type MongoWireServer, type MongoWireServerOptions, startMongoWireServer } from "@featbit-export/testkit"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { MongoSource, type MongoSourceConfig } from "../../src/index.js"

export const start = (options?: MongoWireServerOptions): Promise<MongoWireServer> => startMongoWireServer(options)

let collections = 0
/** A collection name no other test of this file uses. */
export const freshCollection = (): string => `Events_${++collections}`

type Overrides = Partial<Omit<MongoSourceConfig, "url">> & { readonly url?: string }

/** The mongo source on a wire server's collection, lag 0 unless said otherwise. */
export const openSource = (server: MongoWireServer, overrides: Overrides = {}): Effect.Effect<Source, SourceError, Scope.Scope> => {
  const { url, ...rest } = overrides
  const config: MongoSourceConfig = {
    database: "featbit",
    collection: "Events",
    lag: Duration.zero,
    lateWindow: Duration.hours(1),
    ...rest,
    url: Redacted.make(url ?? server.url)
  }
  return MongoSource.make(config, { pipeline: "test", baseDir: "." })
}
