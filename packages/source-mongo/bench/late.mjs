// What the late-row check costs on MongoDB: a million FeatBit documents in the hour behind the cursor (all of
// them inside the default lateWindow), read once through the source; then passes that find nothing new (one
// aggregate of per-bucket counts), and passes after 100 late documents landed in that hour (the count, then
// each grown bucket read whole: MongoDB keeps no ingest time). The server is the test kit's wire-protocol
// double, in this process: its times say little about mongod; what is sent again does. Build first, then:
//   node packages/source-mongo/bench/late.mjs [documents]        (default 1000000)
import { startMongoWireServer } from "@featbit-export/testkit/mongo"
import { mongoTrafficStore } from "@featbit-export/testkit/traffic"
import { describeLateCheck, measureLateCheck } from "@featbit-export/testkit/measure"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { MongoSource } from "../dist/index.js"

const ROWS = Number(process.argv[2] ?? 1_000_000)
const server = await startMongoWireServer({ maxBatchSize: 5_000 })
try {
  const store = mongoTrafficStore(server, "featbit", "Events")
  const subject = {
    insert: store.insert,
    now: async () => server.now().getTime(),
    open: () => MongoSource.make(Schema.decodeUnknownSync(MongoSource.config)({ url: server.url }), { pipeline: "bench", baseDir: "." })
  }
  const cost = await Effect.runPromise(measureLateCheck(subject, { rows: ROWS }))
  console.log(describeLateCheck("mongo (wire-protocol double)", cost))
} finally {
  await server.close()
}
