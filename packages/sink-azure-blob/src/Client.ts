import type { SinkError } from "@featbit-export/core"
import type { ObjectStore } from "@featbit-export/object-storage"
import { BlobServiceClient, type ContainerClient, StorageSharedKeyCredential, type StoragePipelineOptions } from "@azure/storage-blob"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { type AzureBlobSinkConfig, accountNameOf } from "./Config.js"
import { type Target, classify } from "./Errors.js"

/** Blocks of 4 MiB, the SDK's single shot up to 8 MiB: a larger object is staged in blocks and committed whole. */
export const BLOCK_BYTES = 4 * 1024 * 1024
export const SINGLE_SHOT_BYTES = 8 * 1024 * 1024

/** The account key inside a connection string, so no message can show it even outside the whole string. */
const accountKeyOf = (connectionString: string): string | undefined => /(?:^|;)\s*AccountKey=([^;]+)/i.exec(connectionString)?.[1]

/** The container client, and what its messages may name and must hide. The engine retries, not the SDK. */
export const openContainer = (config: AzureBlobSinkConfig): { readonly container: ContainerClient; readonly target: Target } => {
  const options: StoragePipelineOptions = { retryOptions: { maxTries: 1, tryTimeoutInMs: Duration.toMillis(config.requestTimeout) } }
  const secrets: Array<string> = []
  let service: BlobServiceClient
  if (config.connectionString !== undefined) {
    const text = Redacted.value(config.connectionString)
    secrets.push(text, ...[accountKeyOf(text)].filter((key): key is string => key !== undefined))
    service = BlobServiceClient.fromConnectionString(text, options)
  } else if (config.accountKey !== undefined) {
    const key = Redacted.value(config.accountKey)
    secrets.push(key)
    const account = accountNameOf(config)
    // configIssues asks for accountName when the file loads; a sink made without that check fails here, not at its first write.
    if (account === undefined) throw new Error(`accountUrl ${config.accountUrl} names no storage account; give accountName`)
    service = new BlobServiceClient(config.accountUrl!, new StorageSharedKeyCredential(account, key), options)
  } else {
    const sas = Redacted.value(config.sasToken!).replace(/^\?/, "")
    secrets.push(sas, ...[/(?:^|&)sig=([^&]+)/.exec(sas)?.[1]].filter((sig): sig is string => sig !== undefined))
    service = new BlobServiceClient(`${config.accountUrl!.replace(/\/+$/, "")}?${sas}`, undefined, options)
  }
  const container = service.getContainerClient(config.container)
  return { container, target: { where: container.url.split("?")[0]!, container: config.container, secrets } }
}

const statusOf = (error: unknown) => (error as { statusCode?: number }).statusCode
const codeOf = (error: unknown) => (error as { code?: string }).code

/**
 * The object store over a container: each object uploaded create-only (`If-None-Match: *`), in one Put Blob up
 * to 8 MiB or as 4 MiB blocks committed by one Put Block List, so it appears only whole. 409 BlobAlreadyExists
 * (Azurite, and Azure for a wildcard condition) or 412: written by an earlier try.
 */
export const containerStore = (container: ContainerClient, target: Target, timeout: Duration.Duration): ObjectStore => ({
  where: target.where,
  create: (key, body, contentType) =>
    Effect.tryPromise({
      try: (signal) =>
        container.getBlockBlobClient(key).uploadData(body, {
          conditions: { ifNoneMatch: "*" },
          blobHTTPHeaders: { blobContentType: contentType },
          blockSize: BLOCK_BYTES,
          maxSingleShotSize: SINGLE_SHOT_BYTES,
          concurrency: 4,
          abortSignal: AbortSignal.any([signal, AbortSignal.timeout(Duration.toMillis(timeout))])
        }),
      catch: (error) => error
    }).pipe(
      Effect.as("created" as const),
      Effect.catchAll((error): Effect.Effect<"exists", SinkError> =>
        (statusOf(error) === 409 && codeOf(error) === "BlobAlreadyExists") || statusOf(error) === 412
          ? Effect.succeed("exists" as const)
          : Effect.fail(classify(error, target, `uploading ${key}`))
      )
    )
})

