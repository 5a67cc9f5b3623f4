import { liveConformance, mongoTrafficStore, startMongoWireServer } from "@featbit-export/testkit"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { afterAll } from "vitest"
import { MongoSource } from "../src/index.js"
import { freshCollection } from "./support/harness.js"

// FeatBit Standard's Events documents in the MongoDB wire-protocol server, read through the official
// driver; the server's clock (hello's localTime) is the horizon's. The source keeps its own defaults.
const server = await startMongoWireServer({ maxBatchSize: 1_000 })
afterAll(() => server.close())

liveConformance("mongo", {
  fresh: async () => {
    const collection = freshCollection()
    return {
      traffic: mongoTrafficStore(server, "featbit", collection),
      now: async () => server.now().getTime(),
      open: (keys) =>
        Effect.flatMap(Effect.orDie(Schema.decodeUnknown(MongoSource.config)({ url: server.url, collection, ...keys })), (config) =>
          MongoSource.make(config, { pipeline: "test", baseDir: "." })
        )
    }
  }
})
