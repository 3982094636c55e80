// node tests/real/screenshots.mjs OUT_DIR: the merchant's side of the real-node order in a real
// browser. Headless Chromium (Debian's), driven over the DevTools protocol with Node's built-in
// WebSocket (Node >= 22), logs in to the store's admin dashboard (/app) through the ingress and
// saves PNGs of the login page, the orders list and the order.
//
// Environment: STORE_URL (http://<host>:<ingress port>), STORE_HOST, INGRESS_ADDR (127.0.0.1),
// ADMIN_EMAIL, ADMIN_PASSWORD, ORDER_ID, CHROMIUM (default chromium).
// Chromium resolves only the store's host (to the ingress on loopback): every other name maps to
// NOTFOUND and background networking is off, so the browser reaches nothing outside the machine.
import { spawn } from "node:child_process"
import { mkdtempSync, writeFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createServer } from "node:net"

const out = process.argv[2]
const env = (name) => {
  if (!process.env[name]) throw new Error(`${name} is not set`)
  return process.env[name]
}
const storeUrl = env("STORE_URL").replace(/\/+$/, "")
const host = env("STORE_HOST")
const email = env("ADMIN_EMAIL")
const password = env("ADMIN_PASSWORD")
const orderId = env("ORDER_ID")
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const log = (m) => console.error(`${new Date().toISOString()} screenshots: ${m}`)

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer()
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })

async function until(what, deadlineMs, fn) {
  const end = Date.now() + deadlineMs
  let last
  while (Date.now() < end) {
    try {
      const v = await fn()
      if (v) return v
    } catch (e) {
      last = e
    }
    await sleep(250)
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`)
}

const port = await freePort()
const profile = mkdtempSync(join(tmpdir(), "sf-chromium-"))
const chromium = spawn(
  process.env.CHROMIUM || "chromium",
  [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-domain-reliability", "--disable-features=Translate,OptimizationHints,MediaRouter",
    "--metrics-recording-only", "--safebrowsing-disable-auto-update",
    `--host-resolver-rules=MAP ${host} ${process.env.INGRESS_ADDR || "127.0.0.1"}, MAP * ~NOTFOUND`,
    `--remote-debugging-port=${port}`, "--remote-debugging-address=127.0.0.1",
    `--user-data-dir=${profile}`, "--window-size=1366,900", "about:blank",
  ],
  { stdio: ["ignore", "ignore", "pipe"] }
)
let chromiumErr = ""
chromium.stderr.on("data", (d) => (chromiumErr = (chromiumErr + d).slice(-4000)))

let ws
try {
  const pages = await until("chromium's DevTools endpoint", 30000, async () => {
    const r = await fetch(`http://127.0.0.1:${port}/json/list`)
    const list = await r.json()
    return list.find((t) => t.type === "page")
  })
  ws = new WebSocket(pages.webSocketDebuggerUrl)
  await new Promise((resolve, reject) => {
    ws.onopen = resolve
    ws.onerror = reject
  })
  let nextId = 0
  const pending = new Map()
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data)
    if (msg.id && pending.has(msg.id)) {
      const { resolve, reject } = pending.get(msg.id)
      pending.delete(msg.id)
      msg.error ? reject(new Error(msg.error.message)) : resolve(msg.result)
    }
  }
  const send = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const id = ++nextId
      pending.set(id, { resolve, reject })
      ws.send(JSON.stringify({ id, method, params }))
    })
  const evaluate = async (expression) => {
    const r = await send("Runtime.evaluate", { expression, awaitPromise: true, returnByValue: true })
    if (r.exceptionDetails) throw new Error(r.exceptionDetails.text)
    return r.result.value
  }
  const shot = async (name) => {
    const { data } = await send("Page.captureScreenshot", { format: "png" })
    writeFileSync(join(out, name), Buffer.from(data, "base64"))
    log(`saved ${join(out, name)}`)
  }
  const bodyHas = (text) => evaluate(`document.body && document.body.innerText.includes(${JSON.stringify(text)})`)

  await send("Page.enable")
  await send("Runtime.enable")
  await send("Emulation.setDeviceMetricsOverride", { width: 1366, height: 900, deviceScaleFactor: 1, mobile: false })

  log(`opening ${storeUrl}/app/login`)
  await send("Page.navigate", { url: `${storeUrl}/app/login` })
  await until("the login form", 90000, () => evaluate(`!!document.querySelector('input[name="email"]')`))
  await sleep(500)
  await shot("medusa-admin-login.png")
  // React-controlled inputs: set the value through the native setter, then fire input events.
  await evaluate(`(() => {
    const set = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value").set
    for (const [name, value] of [["email", ${JSON.stringify(email)}], ["password", ${JSON.stringify(password)}]]) {
      const el = document.querySelector('input[name="' + name + '"]')
      set.call(el, value)
      el.dispatchEvent(new Event("input", { bubbles: true }))
    }
    document.querySelector('button[type="submit"]').click()
    return true
  })()`)
  await until("the dashboard after login", 60000, async () => !(await evaluate(`location.pathname`)).endsWith("/login"))

  await send("Page.navigate", { url: `${storeUrl}/app/orders` })
  await until("the order in the orders list", 60000, () => bodyHas("helm-test@example.com"))
  await sleep(1000)
  await shot("medusa-admin-orders.png")

  await send("Page.navigate", { url: `${storeUrl}/app/orders/${orderId}` })
  await until("the order page", 60000, () => bodyHas("helm-test@example.com"))
  await sleep(1500)
  await shot("medusa-admin-order.png")
} catch (e) {
  log(`FAILED: ${e.message}`)
  if (chromiumErr) log(`chromium stderr (tail): ${chromiumErr.slice(-1000)}`)
  process.exitCode = 1
} finally {
  try { ws?.close() } catch {}
  chromium.kill("SIGTERM")
  await new Promise((r) => (chromium.exitCode !== null ? r() : chromium.on("exit", r)))
  // Chromium's helper processes may still be writing into the profile for a moment after
  // the browser exits: retry, and never fail the run over a temporary folder.
  try {
    rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 })
  } catch (e) {
    log(`could not remove ${profile}: ${e.message}`)
  }
}
