/** The `type: file` sink plugin; it claims the file it appends to, so no two pipelines of a file share one. */
export { FileSink } from "./FileSink.js"
/** Its configuration keys, and the file a configuration writes. */
export { FileSinkConfig, fileSinkResources } from "./FileSinkConfig.js"
/** What a pipeline file may compute for it (`sink.map`): the record written as an event's line. */
export { FILE_MAPPABLE } from "./mapped.js"
/** Sizes such as `100MB` or `1GiB` in pipeline files. */
export { ByteSize, parseByteSize } from "./ByteSize.js"
/** Where a sink writes, how rotated files are named, and which files it has written. */
export { activeFile, listFiles, rotatedFile } from "./FileLayout.js"
