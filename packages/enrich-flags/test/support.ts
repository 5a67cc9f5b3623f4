import { randomUUID } from "node:crypto"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { HOST, createDatabase } from "../../source-postgres/test/support/pg.js"

export { HOST }

/** A database of its own on the local PostgreSQL, with FeatBit's `feature_flags` table (v0.0.0.sql). */
export const featbitDatabase = async () => {
  const db = await createDatabase("flags")
  const pool = db.pool
  await pool.query(`CREATE TABLE feature_flags (
    id uuid NOT NULL, env_id uuid NOT NULL, revision uuid NOT NULL,
    name varchar(128) NOT NULL, description text, key varchar(128) NOT NULL,
    variation_type varchar(64) NOT NULL, variations jsonb, target_users jsonb, rules jsonb,
    is_enabled boolean NOT NULL, disabled_variation_id varchar(128) NOT NULL, fallthrough jsonb,
    expt_include_all_targets boolean NOT NULL, tags text[], is_archived boolean NOT NULL,
    created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
    creator_id uuid NOT NULL, updator_id uuid NOT NULL,
    CONSTRAINT pk_feature_flags PRIMARY KEY (id))`)
  return {
    url: `postgres://postgres@${HOST}:5432/${db.name}`,
    pool,
    insert: (flag: StoredFlagRow) =>
      pool.query(
        `INSERT INTO feature_flags (id, env_id, revision, name, description, key, variation_type, variations, target_users, rules, is_enabled,
           disabled_variation_id, fallthrough, expt_include_all_targets, tags, is_archived, created_at, updated_at, creator_id, updator_id)
         VALUES ($1, $2, $3, $4, '', $5, $6, $7, '[]', '[]', true, $8, '{}', true, '{}', $9, now(), now(), $10, $10)`,
        [randomUUID(), flag.envId, randomUUID(), flag.name, flag.key, flag.variationType, JSON.stringify(flag.variations), flag.variations[0]?.id ?? "", flag.archived ?? false, randomUUID()]
      ),
    drop: db.drop
  }
}

export interface StoredFlagRow {
  readonly envId: string
  readonly key: string
  readonly name: string
  readonly variationType: string
  readonly variations: ReadonlyArray<{ readonly id: string; readonly name?: string; readonly value: string }>
  readonly archived?: boolean
}

/**
 * FeatBit's evaluation server as a server SDK sees it: `GET /api/public/sdk/server/latest-all` with the raw
 * server secret in `Authorization`, answering the `data-sync` message of that environment; `fault` makes the
 * next answers fail.
 */
export const evaluationServer = async (flagsBySecret: Map<string, ReadonlyArray<unknown>>) => {
  const requests: Array<{ path: string; authorization: string | undefined }> = []
  const faults: Array<number> = []
  const server = http.createServer((request, response) => {
    requests.push({ path: request.url ?? "", authorization: request.headers.authorization })
    const fault = faults.shift()
    if (fault !== undefined) return void response.writeHead(fault).end(`{"error":"fault ${fault}"}`)
    if (!request.url?.startsWith("/api/public/sdk/server/latest-all?timestamp=0")) return void response.writeHead(404).end()
    const flags = flagsBySecret.get(request.headers.authorization ?? "")
    if (flags === undefined) return void response.writeHead(401).end()
    response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ messageType: "data-sync", data: { eventType: "full", featureFlags: flags, segments: [] } }))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    fault: (...statuses: Array<number>) => void faults.push(...statuses),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

/**
 * FeatBit's Open API as its list endpoint answers: `GET /api/v1/envs/{envId}/feature-flags` with paging
 * (`pageIndex`, `pageSize`), `isArchived` as an equality filter and the raw access token in `Authorization`.
 */
export const openApi = async (token: string, flagsByEnv: Map<string, ReadonlyArray<{ key: string; isArchived: boolean }>>) => {
  const requests: Array<string> = []
  const server = http.createServer((request, response) => {
    requests.push(request.url ?? "")
    if (request.headers.authorization !== token) return void response.writeHead(401).end()
    const url = new URL(request.url ?? "", "http://x")
    const match = /^\/api\/v1\/envs\/([^/]+)\/feature-flags$/.exec(url.pathname)
    if (match === null) return void response.writeHead(404).end()
    const archived = url.searchParams.get("isArchived") === "true"
    const index = Number(url.searchParams.get("pageIndex") ?? 0)
    const size = Number(url.searchParams.get("pageSize") ?? 10)
    const all = [...(flagsByEnv.get(decodeURIComponent(match[1]!)) ?? [])].filter((f) => f.isArchived === archived).sort((a, b) => a.key.localeCompare(b.key))
    const items = all.slice(index * size, index * size + size).map(({ isArchived: _, ...flag }) => flag)
    response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ success: true, errors: [], data: { totalCount: all.length, items } }))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}
