import * as os from "node:os"
import type { ClusterSetting } from "@featbit-export/core"

/** This process among the runners: its host, pid and start time, so a restarted container with the same pid is another runner. */
export const runnerName = (cluster: ClusterSetting | undefined): string =>
  cluster?.runner ?? `${os.hostname()}/${process.pid}/${new Date(performance.timeOrigin).toISOString()}`
