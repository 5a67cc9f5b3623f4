import type { EventRow } from "@featbit-export/core"

/** How a batch's rows become one file's bytes. */
export interface FileFormat {
  /** As a pipeline file names it: `parquet` or `ndjson`. */
  readonly name: string
  /** The object's name ends with it: `parquet`, `ndjson.gz`. */
  readonly extension: string
  readonly contentType: string
  /** The whole file; rows in the order given, the columns of FILE_COLUMNS. */
  readonly encode: (rows: ReadonlyArray<EventRow>) => Promise<Buffer>
}
