import { type CheckpointError, CheckpointStore, DeadLetter, type DeadLetterError, type PipelineFile, type Secrets } from "@featbit-export/core"
import { openPostgresState } from "@featbit-export/state-postgres"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { type Entry, parseEntries, readEntries, renderEntries } from "./DeadLetterFile.js"
import { runnerName } from "./cluster/RunnerName.js"

/** A pipeline's dead letters as the CLI reads and rewrites them, in a file or in the state database. */
export interface Letters {
  /** Where they are, for messages. */
  readonly where: string
  readonly read: Effect.Effect<ReadonlyArray<Entry>, DeadLetterError>
  /** Replaces what the last `read` returned with these entries (letters appended since are kept). */
  readonly replace: (entries: ReadonlyArray<Entry>) => Effect.Effect<void, DeadLetterError>
}

/** The stores of a pipeline file, as the CLI's commands use them: the state folder's files, or the shared state. */
export interface State {
  readonly shared: boolean
  readonly checkpoints: CheckpointStore.CheckpointStore["Type"]
  readonly deadLetters: DeadLetter.DeadLetterStore["Type"]
  readonly letters: (pipeline: string) => Letters
}

const fileLetters = (file: string): Letters => ({
  where: file,
  read: readEntries(file),
  replace: (entries) => DeadLetter.replaceFile(file, renderEntries(entries))
})

/** Opens the file's state in the scope: PostgreSQL when `state:` names one (its tables made on first use), else the folder. */
export const openState = (file: PipelineFile.PipelineFile, scrubber: Secrets.Scrubber): Effect.Effect<State, CheckpointError, Scope.Scope> =>
  file.sharedState === undefined
    ? Effect.succeed({
        shared: false,
        checkpoints: CheckpointStore.makeFile(file.stateDir, scrubber),
        deadLetters: DeadLetter.makeFile(file.stateDir, scrubber),
        letters: (pipeline) => fileLetters(DeadLetter.deadLetterFile(file.stateDir, pipeline))
      })
    : Effect.map(openPostgresState(file.sharedState, { owner: runnerName(file.cluster), scrubber }), (state) => ({
        shared: true,
        checkpoints: state.checkpoints,
        deadLetters: state.deadLetters,
        letters: (pipeline) => {
          const box = state.letters(pipeline)
          return {
            where: box.where,
            read: Effect.map(box.read, (lines) => parseEntries(lines.join("\n"))),
            replace: (entries) => box.replace(entries.map((entry) => entry.text))
          }
        }
      }))
