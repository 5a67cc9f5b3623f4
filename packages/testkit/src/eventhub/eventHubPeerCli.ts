// Runs an Event Hubs test peer in its own process (for benchmarks). Prints one JSON line
// `{"port":..,"connectionString":".."}`, then answers each line on stdin with one JSON line:
//   stats          -> {"events":..,"attempts":..,"transfers":..} (events are counted, not kept; cumulative)
//   busy-every N   -> refuses every N-th transfer from now on (counting all attempts) as server-busy; {"ok":true}
//   clear          -> forgets the refusals; {"ok":true}
//   node eventHubPeerCli.js [--max-message-size 1048576] [--partitions 4] [--hub hub] [--settle-delay-ms 0]
import * as readline from "node:readline"
import { startEventHubPeer } from "./EventHubPeer.js"

const arg = (name: string): string | undefined => {
  const at = process.argv.indexOf(name)
  return at >= 0 ? process.argv[at + 1] : undefined
}
const maxMessageSize = arg("--max-message-size")
const partitions = arg("--partitions")
const hub = arg("--hub")
const settleDelayMs = arg("--settle-delay-ms")
const peer = await startEventHubPeer({
  ...(maxMessageSize === undefined ? {} : { maxMessageSize: Number(maxMessageSize) }),
  ...(partitions === undefined ? {} : { partitionCount: Number(partitions) }),
  ...(hub === undefined ? {} : { hub }),
  ...(settleDelayMs === undefined ? {} : { settleDelayMs: Number(settleDelayMs) }),
  retainEvents: false
})
process.stdout.write(`${JSON.stringify({ port: peer.port, connectionString: peer.connectionString() })}\n`)
const answer = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`)
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const [command, value] = line.trim().split(/\s+/)
  if (command === "stats") answer({ events: peer.accepted(), attempts: peer.attempts(), transfers: peer.acceptedTransfers() })
  else if (command === "busy-every") {
    const every = Number(value)
    const from = peer.attempts()
    peer.rejectWhen((attempt) => (attempt - from) % every === 0, "com.microsoft:server-busy")
    answer({ ok: true })
  } else if (command === "clear") {
    peer.clearRejections()
    answer({ ok: true })
  } else answer({ error: `unknown command: ${line}` })
})
const stop = () => void peer.stop().then(() => process.exit(0))
process.on("SIGTERM", stop)
process.on("SIGINT", stop)
