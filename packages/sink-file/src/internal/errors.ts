import * as fs from "node:fs"
import * as path from "node:path"
import { SinkError } from "@featbit-export/core"

/** The plugin name carried by every error of this sink. */
export const PLUGIN = "file"

interface Diagnosis {
  readonly retryable: boolean
  readonly reason: string
}

// Transient: the same write can succeed later without anyone changing the configuration (space freed, a
// device recovered, a file descriptor released); the engine retries the whole batch with backoff.
// Fatal: someone has to change the path or the file system first, so retrying would only delay the message.
const diagnoses: Record<string, (subject: string) => Diagnosis> = {
  ENOSPC: () => ({ retryable: true, reason: "no space left on the device; free some space" }),
  EDQUOT: () => ({ retryable: true, reason: "the disk quota is used up; free some space or raise the quota" }),
  EIO: () => ({ retryable: true, reason: "the storage device reported an input/output error; check the disk" }),
  EAGAIN: () => ({ retryable: true, reason: "the file system is temporarily unavailable" }),
  EWOULDBLOCK: () => ({ retryable: true, reason: "the file system is temporarily unavailable" }),
  EINTR: () => ({ retryable: true, reason: "the write was interrupted" }),
  EBUSY: () => ({ retryable: true, reason: "the file is busy" }),
  EMFILE: () => ({ retryable: true, reason: "too many open files in this process; raise the open-file limit" }),
  ENFILE: () => ({ retryable: true, reason: "too many open files on this system; raise the open-file limit" }),
  ESTALE: () => ({ retryable: true, reason: "the network file system lost track of the file" }),
  // The folder was removed while the sink ran: the next attempt creates it again.
  ENOENT: () => ({ retryable: true, reason: "the folder disappeared while writing; it is created again and the batch retried" }),
  EVANISHED: () => ({
    retryable: false,
    reason:
      "the file was deleted while the pipeline wrote to it; the batch was not acknowledged and nothing after the last checkpoint is lost, but what was written to it is gone: run again to go on in a new file (to keep files small, set maxBytes and let the sink rotate them)"
  }),
  EREPLACED: () => ({
    retryable: false,
    reason:
      "another file took its place while the pipeline wrote to it (moved away, or rotated by another program); the batch was not acknowledged, and the events written since the file was moved are in the moved file: run again to go on (to rotate files, set maxBytes and let the sink do it)"
  }),
  EACCES: () => ({ retryable: false, reason: "permission denied; make the folder writable or choose another path" }),
  EPERM: () => ({ retryable: false, reason: "operation not permitted; make the folder writable or choose another path" }),
  EROFS: () => ({ retryable: false, reason: "the file system is read-only; choose a path on a writable file system" }),
  EISDIR: () => ({
    retryable: false,
    reason: "it is a folder, not a file; end the path with \"/\" to write <pipeline>.ndjson inside it, or choose a file name"
  }),
  ENOTDIR: (subject) => ({ retryable: false, reason: `${inTheWay(subject)}; move it or choose another path` }),
  EEXIST: (subject) => ({ retryable: false, reason: `${inTheWay(subject)}; move it or choose another path` }),
  ENAMETOOLONG: () => ({ retryable: false, reason: "the path is too long; choose a shorter path" }),
  ELOOP: () => ({ retryable: false, reason: "the path has a loop of symbolic links; fix the links or choose another path" }),
  EFBIG: () => ({ retryable: false, reason: "the file reached the largest size allowed here (by the file system or a process limit); set maxBytes so files are rotated" })
}

/** Names the file that sits where a folder of `subject`'s path is needed, so the person knows what to move. */
const inTheWay = (subject: string): string => {
  const parts: Array<string> = []
  for (let dir = path.dirname(subject); dir !== path.dirname(dir); dir = path.dirname(dir)) parts.unshift(dir)
  for (const dir of parts) {
    try {
      const stat = fs.statSync(dir, { throwIfNoEntry: false })
      if (stat === undefined) break
      if (!stat.isDirectory()) return `${dir} is a file, not a folder`
    } catch {
      break
    }
  }
  return "part of the path is a file, not a folder"
}

/** A folder of the path cannot be created, for a reason found by looking at it (the system's code is vague). */
export class FolderError extends Error {
  constructor(readonly reason: string) {
    super(reason)
  }
}

/**
 * Turns a failed file-system call into the `SinkError` the engine acts on. The message holds the path
 * and the reason only: never the data being written, never the raw system message (a rename's message
 * carries a second path that would only confuse).
 */
export const fileError = (subject: string, cause: unknown): SinkError => {
  if (cause instanceof FolderError) return SinkError.fatal(PLUGIN, `cannot write ${subject}: ${cause.reason}`, cause)
  const code = (cause as NodeJS.ErrnoException | undefined)?.code
  const diagnose = code === undefined ? undefined : diagnoses[code]
  if (diagnose !== undefined) {
    const { reason, retryable } = diagnose(subject)
    const message = `cannot write ${subject}: ${reason}`
    return retryable ? SinkError.transient(PLUGIN, message, { cause }) : SinkError.fatal(PLUGIN, message, cause)
  }
  // Unknown failures stop the pipeline: retrying something not understood risks an endless loop.
  return SinkError.fatal(
    PLUGIN,
    `cannot write ${subject}: unexpected ${code ?? "error"}; check the path and the file system`,
    cause
  )
}
