import { type PluginConfigIssue, Secrets } from "@featbit-export/core"

/**
 * The host, checked when the file loads: "us", "eu" or an http(s) base URL. A mistake there would
 * otherwise surface at the first request, as a failure retried for the whole retry policy.
 */
export const hostIssues = (config: { readonly host: string }): ReadonlyArray<PluginConfigIssue> => {
  const problem = hostProblem(config.host.trim())
  return problem === undefined ? [] : [{ path: ["host"], message: problem }]
}

const hostProblem = (host: string): string | undefined => {
  if (["", "us", "eu"].includes(host.toLowerCase())) return undefined
  const parts = Secrets.splitUrl(host)
  if (parts === undefined) return 'host must be "us", "eu" or a base URL such as https://posthog.example.com; it has no scheme'
  if (parts.scheme !== "http" && parts.scheme !== "https") return `host must start with https:// or http://, not ${parts.scheme}://; fix the scheme`
  if (parts.userinfo !== undefined) {
    return `host carries credentials (${Secrets.redactUrl(host)}); PostHog authenticates with apiKey alone: remove the user and password from the host`
  }
  const problem = Secrets.authorityProblem(parts.authority)
  if (problem !== undefined) return `host is not a valid base URL: ${problem}`
  if (/[?#]/.test(parts.rest)) return "host is a base URL that /batch/ is appended to: remove its ?query and #fragment"
  if (/^https?:\/\/(us|eu|app)\.posthog\.com(\/|$)/i.test(host)) {
    return `host ${host} is PostHog's app and private API, not its ingestion: use "us" or "eu" (${host.toLowerCase().includes("eu.") ? "eu" : "us"}.i.posthog.com)`
  }
  try {
    new URL(host)
  } catch {
    return "host is not a valid base URL; fix its characters (spaces and the like must be percent-encoded)"
  }
  return undefined
}
