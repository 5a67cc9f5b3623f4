/** The CEL compiler of pipeline files' `filter:`, `transform:` and `sink.map`, for the runner's registry. */
export { celCompiler, compile } from "./Compile.js"
/** The canonical event's fields as CEL variables, and the places `set:` and `drop:` may name. */
export { EVENT_VARIABLES, type FieldPath, fieldPath } from "./EventFields.js"
/** CEL results as plain JSON data. */
export { UnfitValue, toPlain } from "./Values.js"
