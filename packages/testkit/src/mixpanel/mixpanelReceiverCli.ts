/**
 * Runs the Mixpanel receiver as its own process (benchmarks, end-to-end tests):
 * `node dist/mixpanel/mixpanelReceiverCli.js --secret S [--port N] [--host H] [--token T] [--project-id P]
 * [--service-account USER:SECRET] [--strict-by-default]`. `--secret` is the project API secret (the Basic
 * username with an empty password). Prints `{"url": ...}` on stdout once listening; `GET /stats` returns the
 * counters; SIGTERM (or SIGINT) stops it. Events are counted, not kept.
 */
import { arg, flag } from "../receivers/cliArgs.js"
import { announceUntilSignalled } from "../receivers/runAsProcess.js"
import { startMixpanelReceiver, type MixpanelServiceAccount } from "./MixpanelReceiver.js"

const serviceAccounts: Array<MixpanelServiceAccount> = []
for (const [i, value] of process.argv.entries()) {
  if (value !== "--service-account") continue
  const account = process.argv[i + 1] ?? ""
  const colon = account.indexOf(":")
  if (colon <= 0) {
    process.stderr.write(`--service-account takes USER:SECRET, not ${JSON.stringify(account)}\n`)
    process.exit(2)
  }
  serviceAccounts.push({ username: account.slice(0, colon), secret: account.slice(colon + 1) })
}

const secret = arg("--secret")
const token = arg("--token")
const projectId = arg("--project-id")
const receiver = await startMixpanelReceiver({
  ...(secret === undefined ? {} : { secret }),
  ...(token === undefined ? {} : { token }),
  ...(projectId === undefined ? {} : { projectId }),
  serviceAccounts,
  port: Number(arg("--port") ?? 0),
  host: arg("--host") ?? "127.0.0.1",
  defaultStrict: flag("--strict-by-default"),
  keepEvents: false
})
announceUntilSignalled(receiver, ["SIGTERM", "SIGINT"])
