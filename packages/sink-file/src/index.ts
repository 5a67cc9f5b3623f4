/** The `type: file` sink plugin. */
export { FileSink } from "./FileSink.js"
/** Its configuration keys. */
export { FileSinkConfig } from "./FileSinkConfig.js"
/** Sizes such as `100MB` or `1GiB` in pipeline files. */
export { ByteSize, parseByteSize } from "./ByteSize.js"
/** Where a sink writes, how rotated files are named, and which files it has written. */
export { activeFile, listFiles, rotatedFile } from "./FileLayout.js"
