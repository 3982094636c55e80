// node migrate.mjs: `medusa db:migrate`, serialised across pods by a PostgreSQL advisory lock.
//
// Two places migrate a store's database: the setup Job (first install, or after it is re-created
// for an upgrade) and the Medusa pod's init container (every rollout, so the schema always
// matches the image the server runs). `medusa db:migrate` takes no lock of its own, so two runs
// at once could apply the same migration twice. This holds a session-level advisory lock for the
// whole run: the second runner waits, then finds nothing left to do. The lock is released when
// the session ends, also when this process is killed.
//
// Links are synced with --execute-safe-links: new link tables are created, nothing is dropped or
// altered without a person deciding (and no interactive prompt can hang the pod).
import { spawn } from "node:child_process"
import pg from "pg"

// Any constant; it only has to be the same in every runner of this store's database.
const LOCK_KEY = 7300113
const log = (message) =>
  console.log(`${new Date().toISOString()} storefleet-migrate: ${message}`)

const client = new pg.Client({ connectionString: process.env.DATABASE_URL })
await client.connect()
log("waiting for the migration lock")
await client.query("SELECT pg_advisory_lock($1)", [LOCK_KEY])
log("migration lock taken; running medusa db:migrate")

const child = spawn(
  "node_modules/.bin/medusa",
  ["db:migrate", "--execute-safe-links"],
  { stdio: "inherit" }
)
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => child.kill(signal))
}
const code = await new Promise((resolve) => {
  child.on("error", (err) => {
    log(`cannot run medusa: ${err.message}`)
    resolve(1)
  })
  child.on("exit", (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)))
})

await client.query("SELECT pg_advisory_unlock($1)", [LOCK_KEY]).catch(() => {})
await client.end().catch(() => {})
log(code === 0 ? "migrations done" : `medusa db:migrate failed (exit ${code})`)
process.exit(code)
