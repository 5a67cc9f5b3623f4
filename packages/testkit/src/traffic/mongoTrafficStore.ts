import type { MongoWireServer } from "../mongo/MongoWireServer.js"
import { toMongoEventDocument } from "../mongo/documents.js"
import type { TrafficStore } from "./TrafficWriter.js"

/**
 * A traffic store over the test kit's MongoDB wire server: rows become FeatBit Standard's `Events`
 * documents, as FeatBit's MongoDB writer stores them.
 */
export const mongoTrafficStore = (
  server: Pick<MongoWireServer, "insert">,
  database = "featbit",
  collection = "Events"
): TrafficStore => ({
  insert: async (rows) => server.insert(database, collection, rows.map(toMongoEventDocument))
})
