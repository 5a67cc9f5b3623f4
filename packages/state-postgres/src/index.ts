/** Checkpoints (fenced by an epoch) and dead letters in PostgreSQL, shared by several runners. */
export { type Claim, type PostgresState, type StateOptions, openPostgresState } from "./PostgresState.js"
export { type LetterBox } from "./LetterBox.js"
export { MIGRATIONS, SCHEMA_VERSION, type Tables, tablesIn } from "./Tables.js"
export { type StateContext, contextOf, describe } from "./Errors.js"
