// Tests run against the real PostgreSQL these machines start (localhost:5432, trust auth); each file makes a
// database of its own and drops it at the end.
import pg from "pg"

export const HOST = process.env["PGHOST_TEST"] ?? "localhost"
let counter = 0

export const stateDatabase = async () => {
  const name = `fbx_state_${process.pid}_${Date.now().toString(36)}_${counter++}`
  const admin = new pg.Client({ host: HOST, user: "postgres", database: "postgres" })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${name}`)
  await admin.end()
  const pool = new pg.Pool({ host: HOST, user: "postgres", database: name, max: 2 })
  pool.on("error", () => undefined)
  return {
    name,
    url: `postgres://postgres@${HOST}:5432/${name}`,
    pool,
    drop: async () => {
      await pool.end()
      const again = new pg.Client({ host: HOST, user: "postgres", database: "postgres" })
      await again.connect()
      await again.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await again.end()
    }
  }
}
