/** The `type: mixpanel` sink plugin. */
export { GZIP_LEVEL, MixpanelSink, failedRecords } from "./MixpanelSink.js"
/** Its configuration keys, Mixpanel's limits and regions. */
export {
  DEFAULT_MAX_BYTES_PER_REQUEST,
  MIXPANEL_LIMITS,
  MixpanelSinkConfig,
  type MixpanelRegion,
  REGION_ENDPOINTS,
  configIssues,
  resolveEndpoint
} from "./MixpanelSinkConfig.js"
/** What an event becomes at Mixpanel. */
export { EXPERIMENT_STARTED, type MixpanelEvent, type RenderConfig, distinctIdOf, insertIdOf, render, renderEvent, timeMs } from "./render.js"
/** The parts of an event a pipeline file may compute (`sink.map`). */
export { type EventFields, MIXPANEL_MAPPABLE, eventFields } from "./mapped.js"
