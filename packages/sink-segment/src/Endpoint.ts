import { type PluginConfigIssue, Secrets } from "@featbit-export/core"

/**
 * The endpoint, checked when the file loads: "us", "eu" or an http(s) base URL. A mistake there would
 * otherwise surface at the first request, as a failure retried for the whole retry policy.
 */
export const endpointIssues = (config: { readonly endpoint: string }): ReadonlyArray<PluginConfigIssue> => {
  const problem = endpointProblem(config.endpoint.trim())
  return problem === undefined ? [] : [{ path: ["endpoint"], message: problem }]
}

const endpointProblem = (endpoint: string): string | undefined => {
  if (["", "us", "eu"].includes(endpoint.toLowerCase())) return undefined
  const parts = Secrets.splitUrl(endpoint)
  if (parts === undefined) return 'endpoint must be "us", "eu" or a base URL such as https://segment-proxy.example:8443; it has no scheme'
  if (parts.scheme !== "http" && parts.scheme !== "https") return `endpoint must start with https:// or http://, not ${parts.scheme}://; fix the scheme`
  if (parts.userinfo !== undefined) {
    return `endpoint carries credentials (${Secrets.redactUrl(endpoint)}); Segment authenticates with writeKey alone: remove the user and password from the endpoint`
  }
  const problem = Secrets.authorityProblem(parts.authority)
  if (problem !== undefined) return `endpoint is not a valid base URL: ${problem}`
  if (/[?#]/.test(parts.rest)) return "endpoint is a base URL that /v1/batch is appended to: remove its ?query and #fragment"
  try {
    new URL(endpoint)
  } catch {
    return "endpoint is not a valid base URL; fix its characters (spaces and the like must be percent-encoded)"
  }
  return undefined
}
