import { type PluginConfigIssue, Secrets } from "@featbit-export/core"

const CREDENTIAL_PARAM = /[?&](?:user|password)=/i

/**
 * The url, checked when the file loads: `http(s)://host[:port][/path]` or `chdb:<folder>`. A mistake there
 * would otherwise surface at the first connection, as a failure retried for the whole retry policy.
 */
export const urlIssues = (config: { readonly url: string }): ReadonlyArray<PluginConfigIssue> => {
  const problem = urlProblem(config.url)
  return problem === undefined ? [] : [{ path: ["url"], message: problem }]
}

const urlProblem = (url: string): string | undefined => {
  const text = url.trim()
  if (text.startsWith("chdb:")) {
    return text.slice("chdb:".length).replace(/^\/\//, "") === ""
      ? "chdb: needs a folder: chdb:<folder> (relative to this file) or chdb::memory:"
      : undefined
  }
  const parts = Secrets.splitUrl(text)
  if (parts === undefined) return "url must be http://host:port, https://host:port or chdb:<folder>; it has no scheme (write http://host:8123 for a server)"
  if (parts.scheme !== "http" && parts.scheme !== "https") {
    return `url must start with http://, https:// or chdb:, not ${parts.scheme}://; fix the scheme`
  }
  if (parts.userinfo !== undefined || CREDENTIAL_PARAM.test(parts.rest)) {
    return `url carries credentials (${Secrets.redactUrl(text)}); put the user in username and the password in password (a secret: \${CLICKHOUSE_PASSWORD}) instead`
  }
  const problem = Secrets.authorityProblem(parts.authority)
  if (problem !== undefined) return `url is not a valid http(s)://host:port: ${problem}`
  try {
    new URL(text)
  } catch {
    return "url is not a valid http(s)://host:port[/path]; fix its characters (spaces and the like must be percent-encoded)"
  }
  return undefined
}
