import { type PluginConfigIssue, Secrets } from "@featbit-export/core"
import * as Redacted from "effect/Redacted"

const EXAMPLE = "postgres://user:password@host:5432/database"

/**
 * The url, checked when the file loads (scheme, host, port), so that a mistake in it exits 2 at its line
 * instead of failing at the first connection. The url is a secret as a whole: no part of it is quoted.
 */
export const urlIssues = (config: { readonly url?: Redacted.Redacted<string> | undefined }): ReadonlyArray<PluginConfigIssue> => {
  if (config.url === undefined) return []
  const problem = urlProblem(Redacted.value(config.url).trim())
  return problem === undefined ? [] : [{ path: ["url"], message: problem }]
}

const urlProblem = (url: string): string | undefined => {
  // pg's other forms: a socket folder ("/var/run/postgresql dbname") and socket:/folder?db=name.
  if (url.startsWith("/") || url.startsWith("socket:")) return undefined
  const parts = Secrets.splitUrl(url)
  if (parts === undefined) return `url is not a PostgreSQL url: write ${EXAMPLE}`
  if (parts.scheme !== "postgres" && parts.scheme !== "postgresql") {
    return `url must start with postgres:// or postgresql://, not ${parts.scheme}://: write ${EXAMPLE}`
  }
  if (parts.userinfo !== undefined && (parts.userinfo.split(":").length > 2 || /[/?#[\]]/.test(parts.userinfo))) {
    return "the user or password in url has characters a URL cannot hold as they are (':', '@', '/', '?', '#'); percent-encode them (encodeURIComponent)"
  }
  // No host: localhost or the socket folder of ?host=, as pg reads it.
  if (parts.authority === "") return undefined
  const problem = Secrets.authorityProblem(parts.authority, { quote: false })
  return problem === undefined ? undefined : `url is not a valid ${EXAMPLE}: ${problem}`
}
