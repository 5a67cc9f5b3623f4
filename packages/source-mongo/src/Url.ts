import { type PluginConfigIssue, Secrets } from "@featbit-export/core"
import * as Redacted from "effect/Redacted"

const EXAMPLE = "mongodb://user:password@host:27017/?authSource=admin"

/**
 * The url, checked when the file loads (scheme, hosts, ports), so that a mistake in it exits 2 at its line
 * instead of failing at the first connection. The url is a secret as a whole: no part of it is quoted.
 */
export const urlIssues = (config: { readonly url: Redacted.Redacted<string> }): ReadonlyArray<PluginConfigIssue> => {
  const problem = urlProblem(Redacted.value(config.url).trim())
  return problem === undefined ? [] : [{ path: ["url"], message: problem }]
}

const urlProblem = (url: string): string | undefined => {
  const parts = Secrets.splitUrl(url)
  if (parts === undefined) return `url is not a MongoDB connection string: write ${EXAMPLE}`
  if (parts.scheme !== "mongodb" && parts.scheme !== "mongodb+srv") {
    return `url must start with mongodb:// or mongodb+srv://, not ${parts.scheme}://: write ${EXAMPLE}`
  }
  // The driver refuses these unencoded in the user and the password; it says so only when connecting.
  if (parts.userinfo !== undefined && (parts.userinfo.split(":").length > 2 || /[@/?#[\]]/.test(parts.userinfo))) {
    return "the user or password in url has characters a connection string cannot hold as they are (':', '@', '/', '?', '#'); percent-encode them (encodeURIComponent)"
  }
  const hosts = parts.authority.split(",")
  const srv = parts.scheme === "mongodb+srv"
  if (srv && hosts.length > 1) return "a mongodb+srv:// url names one host (its DNS SRV record lists the servers); remove the others, or use mongodb:// with every host"
  for (const [i, host] of hosts.entries()) {
    const problem = Secrets.authorityProblem(host, { quote: false, port: !srv })
    if (problem !== undefined) return `url is not a valid ${EXAMPLE}: ${hosts.length > 1 ? `host ${i + 1}: ` : ""}${problem}`
  }
  return undefined
}
