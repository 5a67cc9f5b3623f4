/** The `type: s3` sink plugin. */
export { S3Sink } from "./S3Sink.js"
/** Its configuration keys. */
export { S3SinkConfig } from "./Config.js"
/** Its error mapping. */
export { PLUGIN, type Target, classify } from "./Errors.js"
