// node wait-for.mjs SECONDS HOST:PORT...
// Waits until every HOST:PORT accepts a TCP connection, polling every 2 s; exits 1 with a
// message naming what is still unreachable once SECONDS have passed. Used by the init containers
// of the Medusa pod and of the setup Job, so that Medusa starts only once PostgreSQL and Redis
// answer instead of crash-looping into a growing back-off.
import net from "node:net"

const [seconds, ...targets] = process.argv.slice(2)
const deadline = Date.now() + Number(seconds) * 1000
if (!Number.isFinite(deadline) || targets.length === 0) {
  console.error("usage: node wait-for.mjs SECONDS HOST:PORT...")
  process.exit(2)
}

function reachable(target) {
  const at = target.lastIndexOf(":")
  const host = target.slice(0, at)
  const port = Number(target.slice(at + 1))
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 2000 })
    const done = (ok) => {
      socket.destroy()
      resolve(ok)
    }
    socket.once("connect", () => done(true))
    socket.once("timeout", () => done(false))
    socket.once("error", () => done(false))
  })
}

const log = (message) =>
  console.log(`${new Date().toISOString()} storefleet-wait: ${message}`)

let pending = targets
for (;;) {
  const results = await Promise.all(pending.map(reachable))
  pending = pending.filter((_, i) => !results[i])
  if (pending.length === 0) {
    log(`reachable: ${targets.join(" ")}`)
    process.exit(0)
  }
  if (Date.now() >= deadline) {
    log(`still unreachable after ${seconds}s: ${pending.join(" ")}`)
    process.exit(1)
  }
  log(`waiting for ${pending.join(" ")}`)
  await new Promise((resolve) => setTimeout(resolve, 2000))
}
