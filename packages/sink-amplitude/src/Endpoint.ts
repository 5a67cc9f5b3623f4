import { type PluginConfigIssue, Secrets } from "@featbit-export/core"
import { AMPLITUDE_LIMITS, type AmplitudeSinkConfig } from "./AmplitudeSinkConfig.js"

/**
 * Checks across keys, when the file loads: the endpoint ("us", "eu" or an http(s) base URL) and a
 * maxBytesPerRequest within the chosen API's limit. A mistake there would otherwise surface at the first
 * request, as a failure retried for the whole retry policy.
 */
export const configIssues = (config: Pick<AmplitudeSinkConfig, "endpoint" | "api" | "maxBytesPerRequest">): ReadonlyArray<PluginConfigIssue> => {
  const issues: Array<PluginConfigIssue> = []
  const problem = endpointProblem(config.endpoint.trim())
  if (problem !== undefined) issues.push({ path: ["endpoint"], message: problem })
  if (config.api === "httpapi" && config.maxBytesPerRequest !== undefined && config.maxBytesPerRequest > AMPLITUDE_LIMITS.httpApiMaxBytes) {
    issues.push({
      path: ["maxBytesPerRequest"],
      message: `maxBytesPerRequest is ${config.maxBytesPerRequest}, over HTTP V2's ${AMPLITUDE_LIMITS.httpApiMaxBytes} bytes per request: lower it, or set api: batch (20 MB)`
    })
  }
  return issues
}

const endpointProblem = (endpoint: string): string | undefined => {
  if (["", "us", "eu"].includes(endpoint.toLowerCase())) return undefined
  const parts = Secrets.splitUrl(endpoint)
  if (parts === undefined) return 'endpoint must be "us", "eu" or a base URL such as https://amplitude-proxy.example:8443; it has no scheme'
  if (parts.scheme !== "http" && parts.scheme !== "https") return `endpoint must start with https:// or http://, not ${parts.scheme}://; fix the scheme`
  if (parts.userinfo !== undefined) {
    return `endpoint carries credentials (${Secrets.redactUrl(endpoint)}); Amplitude authenticates with apiKey alone: remove the user and password from the endpoint`
  }
  const problem = Secrets.authorityProblem(parts.authority)
  if (problem !== undefined) return `endpoint is not a valid base URL: ${problem}`
  if (/[?#]/.test(parts.rest)) return "endpoint is a base URL that /2/httpapi or /batch is appended to: remove its ?query and #fragment"
  if (/\/(2\/httpapi|batch)\/?$/.test(parts.rest)) return "endpoint is a base URL: remove /2/httpapi or /batch from its end (api: chooses the path)"
  try {
    new URL(endpoint)
  } catch {
    return "endpoint is not a valid base URL; fix its characters (spaces and the like must be percent-encoded)"
  }
  return undefined
}
