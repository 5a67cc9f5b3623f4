import { DurationSetting, type PluginConfigIssue, PositiveInt, Secrets } from "@featbit-export/core"
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"

/**
 * Mixpanel's documented limits for `POST /import` (`reference/import-events.mdx`, the ingestion OpenAPI;
 * `protocols-round2.md` 2.2 and 2.4).
 */
export const MIXPANEL_LIMITS = {
  /** Events in one request. */
  maxEventsPerRequest: 2_000,
  /** Uncompressed bytes of one request, as the prose says ("10MB uncompressed"): the most the config allows. */
  maxBytesPerRequest: 10 * 1024 * 1024,
  /** Uncompressed bytes of one request in the OpenAPI 413 example ("max limit of 2097152 bytes"): the default stays under it. */
  documentedSmallerBytesPerRequest: 2_097_152,
  /** Uncompressed JSON of one event must be under this (1 MB). */
  maxBytesPerEvent: 1024 * 1024,
  /** `$insert_id`: at most 36 bytes, alphanumerics and `-` only. */
  maxInsertIdBytes: 36
} as const

/** The default request byte limit: below the smaller documented figure, with room for a proxy's headers. */
export const DEFAULT_MAX_BYTES_PER_REQUEST = 2_000_000

/** The ingestion hosts of Mixpanel's data residency regions. */
export const REGION_ENDPOINTS = {
  us: "https://api.mixpanel.com",
  eu: "https://api-eu.mixpanel.com",
  in: "https://api-in.mixpanel.com"
} as const
export type MixpanelRegion = keyof typeof REGION_ENDPOINTS

/** The keys of a `type: mixpanel` sink in a pipeline file. */
export const MixpanelSinkConfig = Schema.Struct({
  serviceAccount: Schema.optionalWith(
    Schema.Struct({
      username: Schema.String.annotations({ description: "The service account's username (an Owner or Admin of the project)" }),
      secret: Schema.Redacted(Schema.String).annotations({ description: "The service account's secret (use ${MIXPANEL_SA_SECRET}); never printed" })
    }).annotations({ description: "A Mixpanel service account; needs projectId. Give this or projectSecret, not both" }),
    { exact: true }
  ),
  projectSecret: Schema.optionalWith(
    Schema.Redacted(Schema.String).annotations({
      description:
        "The project's secret (or its project token), sent as the Basic username with an empty password (use ${MIXPANEL_PROJECT_SECRET}); never printed. Give this or serviceAccount, not both"
    }),
    { exact: true }
  ),
  projectId: Schema.optionalWith(
    Schema.String.annotations({ description: "The Mixpanel project id, sent as project_id (required with serviceAccount)" }),
    { exact: true }
  ),
  endpoint: Schema.optionalWith(
    Schema.String.annotations({
      description: `Where events go: "us" (${REGION_ENDPOINTS.us}, the default), "eu" (${REGION_ENDPOINTS.eu}), "in" (${REGION_ENDPOINTS.in}) or a base URL that /import is appended to`
    }),
    { default: () => "us", exact: true }
  ),
  maxEventsPerRequest: Schema.optionalWith(PositiveInt.pipe(Schema.lessThanOrEqualTo(MIXPANEL_LIMITS.maxEventsPerRequest)), {
    default: () => MIXPANEL_LIMITS.maxEventsPerRequest,
    exact: true
  }).annotations({ description: "Most events in one /import request (at most 2000, the default)" }),
  maxBytesPerRequest: Schema.optionalWith(PositiveInt.pipe(Schema.lessThanOrEqualTo(MIXPANEL_LIMITS.maxBytesPerRequest)), {
    default: () => DEFAULT_MAX_BYTES_PER_REQUEST,
    exact: true
  }).annotations({
    description: "Most uncompressed bytes in one request body (at most 10485760, Mixpanel's 10 MB; default 2000000, under the 2097152 of its OpenAPI)"
  }),
  concurrency: Schema.optionalWith(PositiveInt, { default: () => 4, exact: true }).annotations({
    description: "Requests of one batch in flight at once (default 4; Mixpanel advises 10 to 20 clients in all)"
  }),
  gzip: Schema.optionalWith(Schema.Boolean.annotations({ description: "Send bodies with Content-Encoding: gzip (default true)" }), {
    default: () => true,
    exact: true
  }),
  flagEventName: Schema.optionalWith(
    Schema.String.pipe(Schema.minLength(1)).annotations({
      description: 'The event name of flag evaluations that are not experiment exposures (default "Feature Flag Evaluated"; "$experiment_started" sends every evaluation as an exposure)'
    }),
    { default: () => "Feature Flag Evaluated", exact: true }
  ),
  experimentStarted: Schema.optionalWith(
    Schema.Boolean.annotations({
      description:
        'Send flag evaluations with sendToExperiment as Mixpanel\'s "$experiment_started" with "Experiment name" and "Variant name", which its Experiments report reads (default true)'
    }),
    { default: () => true, exact: true }
  ),
  geolocate: Schema.optionalWith(
    Schema.Boolean.annotations({
      description: 'Let Mixpanel geolocate events from the request IP, which is the exporter\'s, not the user\'s (default false: each event carries ip "0")'
    }),
    { default: () => false, exact: true }
  ),
  requestTimeout: Schema.optionalWith(DurationSetting, { default: () => Duration.seconds(30), exact: true }).annotations({
    description: "How long one request may take before it counts as failed and is retried (default 30s)"
  })
})
export type MixpanelSinkConfig = typeof MixpanelSinkConfig.Type

/** The base URL the configuration names. */
export const resolveEndpoint = (endpoint: string): string => {
  const value = endpoint.trim()
  const region = value.toLowerCase()
  if (value === "") return REGION_ENDPOINTS.us
  if (region in REGION_ENDPOINTS) return REGION_ENDPOINTS[region as MixpanelRegion]
  return value.replace(/\/+$/, "")
}

const endpointProblem = (endpoint: string): string | undefined => {
  if (["", "us", "eu", "in"].includes(endpoint.toLowerCase())) return undefined
  const parts = Secrets.splitUrl(endpoint)
  if (parts === undefined) return 'endpoint must be "us", "eu", "in" or a base URL such as https://mixpanel-proxy.example:8443; it has no scheme'
  if (parts.scheme !== "http" && parts.scheme !== "https") return `endpoint must start with https:// or http://, not ${parts.scheme}://; fix the scheme`
  if (parts.userinfo !== undefined) {
    return `endpoint carries credentials (${Secrets.redactUrl(endpoint)}); give them as serviceAccount or projectSecret and remove the user and password from the endpoint`
  }
  const problem = Secrets.authorityProblem(parts.authority)
  if (problem !== undefined) return `endpoint is not a valid base URL: ${problem}`
  if (/[?#]/.test(parts.rest)) return "endpoint is a base URL that /import is appended to: remove its ?query and #fragment"
  try {
    new URL(endpoint)
  } catch {
    return "endpoint is not a valid base URL; fix its characters (spaces and the like must be percent-encoded)"
  }
  return undefined
}

/**
 * Checks across keys, run when the file loads: exactly one kind of credentials, a project id with a service
 * account, and an endpoint that is a region or a base URL. Each would otherwise surface at the first request.
 */
export const configIssues = (config: MixpanelSinkConfig): ReadonlyArray<PluginConfigIssue> => {
  const issues: Array<PluginConfigIssue> = []
  const account = config.serviceAccount
  if (account !== undefined && config.projectSecret !== undefined) {
    issues.push({ path: ["projectSecret"], message: "give serviceAccount or projectSecret, not both: remove one of them" })
  } else if (account === undefined && config.projectSecret === undefined) {
    issues.push({ path: [], message: "Mixpanel needs credentials: give serviceAccount (username, secret, with projectId) or projectSecret" })
  }
  if (account !== undefined && (config.projectId === undefined || config.projectId.trim() === "")) {
    issues.push({ path: ["projectId"], message: "a service account authenticates only with a project: set projectId to the Mixpanel project id" })
  }
  if (account !== undefined && account.username.trim() === "") {
    issues.push({ path: ["serviceAccount", "username"], message: "serviceAccount.username is empty: set the service account's username" })
  }
  const problem = endpointProblem(config.endpoint.trim())
  if (problem !== undefined) issues.push({ path: ["endpoint"], message: problem })
  return issues
}
