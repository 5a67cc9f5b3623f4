import { DurationSetting } from "@featbit-export/core"
import { ObjectSinkKeys } from "@featbit-export/object-storage"
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"

/** Container names: 3 to 63 lower-case letters, digits and single hyphens (Azure's rule). */
const ContainerName = Schema.String.pipe(
  Schema.pattern(/^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/, {
    message: () => "a container name is 3 to 63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit"
  })
)

/** The keys of a `type: azure-blob` sink in a pipeline file. */
export const AzureBlobSinkConfig = Schema.Struct({
  connectionString: Schema.optional(
    Schema.Redacted(Schema.String.pipe(Schema.minLength(1))).annotations({
      description: "The storage account's connection string (DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...;...), from the portal's Access keys; or give accountUrl with accountKey or sasToken"
    })
  ),
  accountUrl: Schema.optional(
    Schema.String.pipe(Schema.pattern(/^https?:\/\/[^\s/]+(\/[^\s?]*)?$/, { message: () => "an http(s) URL such as https://myaccount.blob.core.windows.net" })).annotations({
      description: "The blob endpoint, https://<account>.blob.core.windows.net (with accountKey or sasToken)"
    })
  ),
  accountName: Schema.optional(Schema.String.pipe(Schema.minLength(3), Schema.maxLength(24)).annotations({ description: "The storage account's name (with accountKey; default: from accountUrl's host)" })),
  accountKey: Schema.optional(Schema.Redacted(Schema.String.pipe(Schema.minLength(1))).annotations({ description: "A key of the storage account (with accountUrl)" })),
  sasToken: Schema.optional(
    Schema.Redacted(Schema.String.pipe(Schema.minLength(1))).annotations({
      description: "A shared access signature (sv=...&sig=...) with create and write permissions on the container (with accountUrl)"
    })
  ),
  container: ContainerName.annotations({ description: "The container the objects go into; it must exist" }),
  ...ObjectSinkKeys,
  requestTimeout: Schema.optionalWith(DurationSetting, { default: () => Duration.seconds(60), exact: true }).annotations({
    description: "How long one request (an upload, a block) may take before the batch is retried (default 60s)"
  })
})
export type AzureBlobSinkConfig = typeof AzureBlobSinkConfig.Type

/**
 * The account an accountKey signs for: accountName, else from accountUrl, https://<account>.blob.core.windows.net or
 * an emulator's http://host:port/<account>. Undefined when neither names one (configIssues asks for accountName).
 */
export const accountNameOf = (config: AzureBlobSinkConfig): string | undefined => {
  if (config.accountName !== undefined) return config.accountName
  if (config.accountUrl === undefined || !URL.canParse(config.accountUrl)) return undefined
  const url = new URL(config.accountUrl)
  return url.hostname.endsWith(".blob.core.windows.net") ? url.hostname.split(".")[0] : url.pathname.split("/").filter(Boolean)[0]
}
