/** The `type: posthog` sink plugin. */
export { PostHogSink } from "./PostHogSink.js"
/** Its configuration keys and PostHog's limits. */
export { EU_HOST, POSTHOG_DEFAULTS, POSTHOG_LIMITS, PostHogSinkConfig, SPLIT_BUDGET, US_HOST, resolveHost } from "./PostHogSinkConfig.js"
/** What an event becomes at PostHog. */
export { FEATURE_FLAG_CALLED, type PostHogEvent, type RenderConfig, distinctIdOf, flagResponse, isUuid, render, renderEvent, timestampOf } from "./render.js"
/** The parts of an event a pipeline file may compute (`sink.map`). */
export { type EventFields, POSTHOG_MAPPABLE, eventFields } from "./mapped.js"
/** The host check run when the file loads. */
export { hostIssues } from "./Endpoint.js"
