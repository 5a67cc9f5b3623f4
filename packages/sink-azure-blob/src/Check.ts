import { normalizePrefix } from "@featbit-export/object-storage"
import type { ContainerClient } from "@azure/storage-blob"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { randomUUID } from "node:crypto"
import { type Target, classify } from "./Errors.js"

/**
 * Connects with the credentials, confirms the container, then writes and deletes a probe object under the
 * prefix: the permissions an export needs (create, write, and delete for the probe alone), proven, not assumed.
 */
export const checkContainer = (container: ContainerClient, target: Target, prefix: string, timeout: Duration.Duration) =>
  Effect.gen(function* () {
    // The SDK's tryTimeoutInMs sets no client-side limit: each call gets requestTimeout's signal, so a store that
    // accepts the connection and never answers cannot hang the check.
    const abortSignal = () => AbortSignal.timeout(Duration.toMillis(timeout))
    const properties = yield* Effect.tryPromise({ try: () => container.getProperties({ abortSignal: abortSignal() }), catch: (error) => classify(error, target, `reading container ${target.container}`) })
    const probe = `${normalizePrefix(prefix)}_featbit-export-check/${randomUUID()}.txt`
    const blob = container.getBlockBlobClient(probe)
    const body = Buffer.from("featbit-export check: this object is deleted at once\n")
    yield* Effect.tryPromise({
      try: () => blob.upload(body, body.length, { conditions: { ifNoneMatch: "*" }, blobHTTPHeaders: { blobContentType: "text/plain" }, abortSignal: abortSignal() }),
      catch: (error) => classify(error, target, `writing the probe object ${probe}`)
    })
    yield* Effect.tryPromise({
      try: () => blob.delete({ abortSignal: abortSignal() }),
      catch: (error) => classify(error, target, `deleting the probe object ${probe} (the export itself needs no delete; give the check delete permission or remove the probe by hand)`)
    })
    return [
      `connected to ${target.where}: container ${target.container} exists (last modified ${properties.lastModified?.toISOString() ?? "unknown"})`,
      `wrote and deleted a probe object under ${normalizePrefix(prefix) || "the container's root"}: the credentials can create objects there`
    ]
  })
