import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/**
 * A Parquet object's rows as JSON values, read by DuckDB: how tests and benchmarks prove that what a sink
 * uploaded is a whole, readable file holding the events (DuckDB reads files, so the bytes pass through one).
 */
export const readParquet = async (body: Uint8Array, select = "*"): Promise<Array<Record<string, unknown>>> => {
  const folder = await fs.promises.mkdtemp(path.join(os.tmpdir(), "featbit-export-read-"))
  const file = path.join(folder, "object.parquet")
  const { DuckDBInstance } = await import("@duckdb/node-api")
  const db = await DuckDBInstance.create(":memory:")
  const connection = await db.connect()
  try {
    await fs.promises.writeFile(file, body)
    return (await connection.runAndReadAll(`SELECT ${select} FROM read_parquet('${file.replace(/'/g, "''")}')`)).getRowObjectsJson() as Array<Record<string, unknown>>
  } finally {
    connection.closeSync()
    db.closeSync()
    await fs.promises.rm(folder, { recursive: true, force: true })
  }
}
