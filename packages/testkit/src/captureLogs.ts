import type * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"

/** What a test's pipeline logged: the messages, and the layer that collects them (in place of the default logger). */
export interface CapturedLogs {
  readonly lines: Array<string>
  readonly layer: Layer.Layer<never>
}

export const captureLogs = (): CapturedLogs => {
  const lines: Array<string> = []
  return { lines, layer: Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => void lines.push(Array.isArray(message) ? message.join(" ") : String(message)))) }
}
