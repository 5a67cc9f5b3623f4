/** The state's tables, in the configured schema. Names are fixed so that operators can query them. */
export interface Tables {
  readonly schema: string
  readonly migrations: string
  readonly checkpoints: string
  readonly deadLetters: string
  readonly commits: string
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`

export const tablesIn = (schema: string): Tables => ({
  schema: quote(schema),
  migrations: `${quote(schema)}.featbit_export_migrations`,
  checkpoints: `${quote(schema)}.featbit_export_checkpoints`,
  deadLetters: `${quote(schema)}.featbit_export_dead_letters`,
  commits: `${quote(schema)}.featbit_export_commits`
})

/**
 * Each version's statements, applied in order, each version once, in one transaction. Never edit a
 * version that has shipped: add the next one.
 */
export const MIGRATIONS: ReadonlyArray<(t: Tables) => ReadonlyArray<string>> = [
  // 1: checkpoints with their owner's epoch, dead letters as lines, and the optional audit of commits.
  (t) => [
    `CREATE TABLE ${t.checkpoints} (
       pipeline text PRIMARY KEY,
       epoch bigint NOT NULL,
       owner text NOT NULL,
       checkpoint jsonb,
       claimed_at timestamptz NOT NULL,
       committed_at timestamptz)`,
    `CREATE TABLE ${t.deadLetters} (
       id bigserial PRIMARY KEY,
       pipeline text NOT NULL,
       at timestamptz NOT NULL,
       stage text NOT NULL,
       plugin text NOT NULL,
       event_id text,
       reason text NOT NULL,
       line text NOT NULL)`,
    `CREATE INDEX featbit_export_dead_letters_by_pipeline ON ${t.deadLetters} (pipeline, id)`,
    `CREATE TABLE ${t.commits} (
       id bigserial PRIMARY KEY,
       pipeline text NOT NULL,
       epoch bigint NOT NULL,
       owner text NOT NULL,
       cursor_timestamp text NOT NULL,
       cursor_id text NOT NULL,
       exported bigint NOT NULL,
       committed_at timestamptz NOT NULL DEFAULT clock_timestamp())`
  ]
]

/** The version this build writes. A database at a newer version was migrated by a newer runner. */
export const SCHEMA_VERSION = MIGRATIONS.length
