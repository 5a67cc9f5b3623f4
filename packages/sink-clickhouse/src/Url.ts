import { type PluginConfigIssue, Secrets } from "@featbit-export/core"

/** The url, checked when the file loads: `http(s)://host[:port][/path]` or `chdb:<folder>`, no credentials. */
export const urlIssues = (config: { readonly url: string }): ReadonlyArray<PluginConfigIssue> => {
  const text = config.url.trim()
  const issue = (message: string) => [{ path: ["url"], message }]
  if (text.startsWith("chdb:")) return text.slice(5).replace(/^\/\//, "") === "" ? issue("chdb: needs a folder: chdb:<folder> (relative to this file) or chdb::memory:") : []
  const parts = Secrets.splitUrl(text)
  if (parts === undefined || (parts.scheme !== "http" && parts.scheme !== "https")) return issue("url must be http://host:8123, https://host:8443 or chdb:<folder>")
  if (parts.userinfo !== undefined || /[?&](?:user|password)=/i.test(parts.rest)) {
    return issue(`url carries credentials (${Secrets.redactUrl(text)}); put the user in username and the password in password (\${CLICKHOUSE_PASSWORD}) instead`)
  }
  const problem = Secrets.authorityProblem(parts.authority)
  return problem === undefined ? [] : issue(`url is not a valid http(s)://host:port: ${problem}`)
}
