import { gunzipSync } from "node:zlib"
import { idsDigest } from "./Layout.js"
import { readParquet } from "./ParquetReader.js"

/** What a loader reads from one object, and whether the object holds exactly the events its name was given for. */
export interface ObjectReadBack {
  readonly key: string
  readonly ids: ReadonlyArray<string>
  /** The `env_id=` and `date=` of the key, decoded. */
  readonly envId: string
  readonly date: string
  /** The digest in the name equals the digest of the ids read: no event missing, none added. */
  readonly whole: boolean
}

const KEY = /env_id=([^/]+)\/date=(\d{4}-\d{2}-\d{2})\/\d{8}T\d{12}Z-\d{8}T\d{12}Z-([0-9a-f]{16})\.(parquet|ndjson\.gz)$/

/**
 * Reads an object as a loader would (DuckDB for Parquet, gunzip and JSON for NDJSON) and checks it against its
 * name: for tests and audits of a bucket. A torn or foreign object throws, naming its key.
 */
export const readObjectBack = async (key: string, body: Uint8Array): Promise<ObjectReadBack> => {
  const parts = KEY.exec(key)
  if (parts === null) throw new Error(`${key} is not named as featbit-export names its objects`)
  const [, env, date, digest, extension] = parts as unknown as [string, string, string, string, string]
  const ids =
    extension === "parquet"
      ? (await readParquet(body, "id")).map((row) => String(row["id"]))
      : gunzipSync(body).toString("utf8").trimEnd().split("\n").map((line) => String((JSON.parse(line) as { id: unknown }).id))
  return { key, ids, envId: decodeURIComponent(env), date, whole: idsDigest(ids) === digest }
}
