import type { AnySinkPlugin, AnySourcePlugin, PipelineFile } from "@featbit-export/core"
import { AmplitudeSink } from "@featbit-export/sink-amplitude"
import { AzureBlobSink } from "@featbit-export/sink-azure-blob"
import { ClickHouseSink } from "@featbit-export/sink-clickhouse"
import { EventHubSink } from "@featbit-export/sink-eventhub"
import { FileSink } from "@featbit-export/sink-file"
import { MixpanelSink } from "@featbit-export/sink-mixpanel"
import { PostgresSink } from "@featbit-export/sink-postgres"
import { PostHogSink } from "@featbit-export/sink-posthog"
import { S3Sink } from "@featbit-export/sink-s3"
import { SegmentSink } from "@featbit-export/sink-segment"
import { ClickHouseSource } from "@featbit-export/source-clickhouse"
import { GenerateSource } from "@featbit-export/source-generate"
import { MongoSource } from "@featbit-export/source-mongo"
import { PostgresSource } from "@featbit-export/source-postgres"
import { celCompiler } from "@featbit-export/transform-cel"

/** The plugins that ship with the runner, found by `type`. */
export const builtins: PipelineFile.PluginRegistry = {
  sources: [ClickHouseSource as AnySourcePlugin, MongoSource as AnySourcePlugin, PostgresSource as AnySourcePlugin, GenerateSource as AnySourcePlugin],
  sinks: [
    FileSink as AnySinkPlugin,
    SegmentSink as AnySinkPlugin,
    EventHubSink as AnySinkPlugin,
    PostgresSink as AnySinkPlugin,
    ClickHouseSink as AnySinkPlugin,
    S3Sink as AnySinkPlugin,
    AzureBlobSink as AnySinkPlugin,
    AmplitudeSink as AnySinkPlugin,
    MixpanelSink as AnySinkPlugin,
    PostHogSink as AnySinkPlugin
  ],
  transforms: celCompiler
}

export const findSource = (registry: PipelineFile.PluginRegistry, type: string): AnySourcePlugin => {
  const plugin = registry.sources.find((candidate) => candidate.type === type)
  // The pipeline file was decoded with this registry, so every type in it is known.
  if (plugin === undefined) throw new Error(`no source plugin of type ${type}`)
  return plugin
}

export const findSink = (registry: PipelineFile.PluginRegistry, type: string): AnySinkPlugin => {
  const plugin = registry.sinks.find((candidate) => candidate.type === type)
  if (plugin === undefined) throw new Error(`no sink plugin of type ${type}`)
  return plugin
}
