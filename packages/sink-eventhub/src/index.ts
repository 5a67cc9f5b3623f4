/** The `type: eventhub` sink plugin. */
export { EventHubSink } from "./EventHubSink.js"
/** Its target resolution and error mapping. */
export { type EventHubTarget, resolveTarget } from "./target.js"
export { classify } from "./classify.js"
/** Its configuration keys. */
export { EventHubSinkConfig } from "./EventHubSinkConfig.js"
/** What an event becomes at Event Hubs. */
export { type EventHubMessage, type RenderConfig, SCHEMA_VERSION, partitionKeyOf, render } from "./render.js"
/** The parts of an event a pipeline file may compute (`sink.map`). */
export { EVENTHUB_MAPPABLE } from "./mapped.js"
/** Where a key goes: the service's own hash, so consumers can tell a key's partition without the SDK. */
export { hashPartitionKey, partitionIndexOf } from "./partitions.js"
