// Medusa configuration of a storefleet store. Everything store-specific comes from the
// environment the chart sets (see charts/medusa-store/templates/medusa-deployment.yaml); nothing
// here is a secret and nothing is read from a .env file.
import { defineConfig } from "@medusajs/framework/utils"

function required(name: string): string {
  const value = process.env[name]
  if (!value) {
    throw new Error(`${name} is not set (the medusa-store chart sets it)`)
  }
  return value
}

const redisUrl = required("REDIS_URL")
// The store's public URL, http(s)://<host>: CORS origin of the admin and of a storefront on the
// same host, and the base of uploaded files' URLs.
const publicUrl = required("MEDUSA_PUBLIC_URL").replace(/\/+$/, "")

module.exports = defineConfig({
  projectConfig: {
    databaseUrl: required("DATABASE_URL"),
    redisUrl,
    // "shared": one process serves HTTP and runs subscribers and scheduled jobs (one pod per
    // store); "server"/"worker" split them when a store outgrows one pod.
    workerMode: (process.env.MEDUSA_WORKER_MODE as "shared" | "worker" | "server") || "shared",
    http: {
      storeCors: process.env.STORE_CORS || publicUrl,
      adminCors: process.env.ADMIN_CORS || publicUrl,
      authCors: process.env.AUTH_CORS || publicUrl,
      jwtSecret: required("JWT_SECRET"),
      cookieSecret: required("COOKIE_SECRET"),
    },
    // The admin dashboard is served from the same origin (/app), so the session cookie can be
    // SameSite=Lax; it is Secure only when the Ingress terminates TLS, otherwise a browser would
    // drop it on a plain-http store and the admin login would never stick.
    cookieOptions: {
      secure: process.env.MEDUSA_COOKIE_SECURE === "true",
      sameSite: "lax",
    },
  },
  admin: {
    // Built into the image and served by the backend at /app. No backendUrl: the dashboard
    // calls the origin it was loaded from, so one image serves every store host.
    disable: process.env.MEDUSA_ADMIN_DISABLED === "true",
    path: "/app",
  },
  modules: [
    // Production infrastructure modules: the in-memory defaults lose events and workflow state
    // on every restart.
    {
      resolve: "@medusajs/medusa/cache-redis",
      options: { redisUrl },
    },
    {
      resolve: "@medusajs/medusa/event-bus-redis",
      options: { redisUrl },
    },
    {
      resolve: "@medusajs/medusa/workflow-engine-redis",
      options: { redis: { redisUrl } },
    },
    {
      resolve: "@medusajs/medusa/locking",
      options: {
        providers: [
          {
            resolve: "@medusajs/medusa/locking-redis",
            id: "locking-redis",
            is_default: true,
            options: { redisUrl },
          },
        ],
      },
    },
    {
      // Uploaded product images: on the store's uploads volume, mounted at ./static, which
      // Medusa serves under /static. Private files (import/export CSVs) are transient working
      // files in ./private, an emptyDir.
      resolve: "@medusajs/medusa/file",
      options: {
        providers: [
          {
            resolve: "@medusajs/medusa/file-local",
            id: "local",
            options: {
              upload_dir: "static",
              private_upload_dir: "private",
              backend_url: `${publicUrl}/static`,
            },
          },
        ],
      },
    },
  ],
})
