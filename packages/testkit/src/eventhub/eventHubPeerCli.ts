// Runs an Event Hubs test peer in its own process (for benchmarks). Prints one JSON line
// `{"port":..,"connectionString":".."}`; answers each "stats" line on stdin with `{"events":..,"attempts":..}` (events are counted, not kept).
//   node eventHubPeerCli.js [--max-message-size 1048576] [--partitions 4] [--hub hub]
import * as readline from "node:readline"
import { startEventHubPeer } from "./EventHubPeer.js"

const arg = (name: string): string | undefined => {
  const at = process.argv.indexOf(name)
  return at >= 0 ? process.argv[at + 1] : undefined
}
const maxMessageSize = arg("--max-message-size")
const partitions = arg("--partitions")
const hub = arg("--hub")
const peer = await startEventHubPeer({
  ...(maxMessageSize === undefined ? {} : { maxMessageSize: Number(maxMessageSize) }),
  ...(partitions === undefined ? {} : { partitionCount: Number(partitions) }),
  ...(hub === undefined ? {} : { hub }),
  retainEvents: false
})
process.stdout.write(`${JSON.stringify({ port: peer.port, connectionString: peer.connectionString() })}\n`)
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.trim() === "stats") {
    process.stdout.write(`${JSON.stringify({ events: peer.accepted(), attempts: peer.attempts() })}\n`)
  }
})
const stop = () => void peer.stop().then(() => process.exit(0))
process.on("SIGTERM", stop)
process.on("SIGINT", stop)
