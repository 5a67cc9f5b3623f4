import { sourceConformance, startMongoWireServer, toMongoEventDocument } from "@featbit-export/testkit"
import { afterAll } from "vitest"
import { freshCollection, openSource } from "./support/harness.js"

// FeatBit Standard's Events documents (string _id, embedded properties, Date timestamp) in a MongoDB
// wire-protocol server, read through the official driver. The server caps reply batches at 40 documents,
// so pages also travel through getMore.
const server = await startMongoWireServer({ maxBatchSize: 40 })
afterAll(() => server.close())

sourceConformance("mongo", {
  make: (rows) => {
    const collection = freshCollection()
    server.insert("featbit", collection, rows.map(toMongoEventDocument))
    return openSource(server, { collection })
  }
})
