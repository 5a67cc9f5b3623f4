// Tests run against the real PostgreSQL these machines start (localhost:5432, trust auth); each file makes a
// database of its own and drops it at the end.
import { HOST, PORT, createDatabase } from "../../source-postgres/test/support/pg.js"

export const stateDatabase = async () => {
  const db = await createDatabase("state")
  return { ...db, url: `postgres://postgres@${HOST}:${PORT}/${db.name}` }
}
