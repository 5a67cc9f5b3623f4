/** The `type: azure-blob` sink plugin. */
export { AzureBlobSink } from "./AzureBlobSink.js"
/** Its configuration keys. */
export { AzureBlobSinkConfig } from "./Config.js"
/** Its error mapping. */
export { PLUGIN, type Target, classify } from "./Errors.js"
