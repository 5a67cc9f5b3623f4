import type { ExportEvent, SinkFields } from "@featbit-export/core"
import { FILE_COLUMNS, fileRow } from "./FileRows.js"
import { normalizePrefix } from "./Layout.js"

/** An event as `preview` shows it for an object sink: the partition it goes to, then its row's columns. */
export const objectRow =
  (prefix: string) =>
  (event: ExportEvent, fields?: SinkFields): Record<string, unknown> => {
    const row = fileRow(event, fields)
    return {
      partition: `${normalizePrefix(prefix)}env_id=${encodeURIComponent(event.envId)}/date=${event.timestamp.slice(0, 10)}/`,
      ...Object.fromEntries(FILE_COLUMNS.map((column) => [column.name, row[column.name]]))
    }
  }
