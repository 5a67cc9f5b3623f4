/** Where a batch's events go: one object per environment and date, named from their time range and ids. */
export { type ObjectGroup, idsDigest, normalizePrefix, objectGroups } from "./Layout.js"
/** The columns every file holds. */
export { FILE_COLUMNS, fileRow } from "./FileRows.js"
/** An event as `preview` shows it for an object sink. */
export { objectRow } from "./ObjectRow.js"
/** File formats: Parquet (DuckDB) and gzipped NDJSON. */
export { type FileFormat } from "./FileFormat.js"
export { openParquet } from "./Parquet.js"
export { ndjsonGzip } from "./NdjsonGzip.js"
/** The port an object-storage sink implements, and the write every one of them shares. */
export { type ObjectStore } from "./ObjectStore.js"
export { type WrittenObject, objectWriter } from "./ObjectWriter.js"
/** The keys every object-storage sink shares. */
export { DEFAULT_PREFIX, ObjectSinkKeys, openFormat } from "./ObjectSinkKeys.js"
/** Reading a Parquet object back (tests, benchmarks). */
export { readParquet } from "./ParquetReader.js"
/** Reading an object back and checking it against its name (tests, audits). */
export { type ObjectReadBack, readObjectBack } from "./ReadBack.js"
