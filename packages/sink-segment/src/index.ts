/** The `type: segment` sink plugin. */
export { IDENTIFY_NAME_CUT, SegmentSink } from "./SegmentSink.js"
/** Its configuration keys and Segment's limits. */
export { EU_ENDPOINT, SEGMENT_LIMITS, SegmentSinkConfig, US_ENDPOINT, resolveEndpoint } from "./SegmentSinkConfig.js"
/** What an event becomes at Segment. */
export { type RenderConfig, type SegmentMessage, identifyMessageId, render, renderIdentify, renderTrack, trackUserId } from "./render.js"
/** The parts of a track a pipeline file may compute (`sink.map`). */
export { SEGMENT_MAPPABLE, type TrackFields, trackFields } from "./mapped.js"
