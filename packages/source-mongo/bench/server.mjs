// The wire server of bench/read.mjs, in a process of its own so that its work (BSON encoding, filter
// evaluation) does not share the reader's thread. Prints {"url": ...} once the documents are in; exits when
// its standard input closes.
import { generateRows } from "@featbit-export/source-generate"
import { startMongoWireServer, toMongoEventDocument } from "@featbit-export/testkit/mongo"

const count = Number(process.argv[2] ?? 100_000)
const server = await startMongoWireServer()
const docs = []
for (const row of generateRows({ count, seed: 7 })) docs.push(toMongoEventDocument(row))
server.insert("featbit", "Events", docs)
process.stdout.write(JSON.stringify({ url: server.url, count }) + "\n")
process.stdin.resume()
process.stdin.on("end", () => server.close().then(() => process.exit(0)))
