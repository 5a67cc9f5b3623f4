/** The `type: s3` sink plugin. */
export { S3Sink } from "./S3Sink.js"
/** Its configuration keys. */
export { S3SinkConfig } from "./Config.js"
/** Its error mapping. */
export { PLUGIN, type Target, classify } from "./Errors.js"
/** The object store over a bucket, and its size thresholds. */
export { PART_BYTES, SINGLE_PUT_BYTES, bucketStore, openBucket } from "./Client.js"
