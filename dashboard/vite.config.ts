/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// `npm run dev` proxies /api to a running platform: STOREFLEET_URL=http://127.0.0.1:PORT npm run dev
export default defineConfig({
  plugins: [react()],
  build: { target: 'es2020', sourcemap: false, reportCompressedSize: true },
  server: {
    proxy: {
      // Optional: the query service's event stream port, where the front door does not route it.
      ...(process.env.STOREFLEET_STREAM_URL ? { '/api/v1/stores/events': { target: process.env.STOREFLEET_STREAM_URL } } : {}),
      ...(process.env.STOREFLEET_URL ? { '/api': { target: process.env.STOREFLEET_URL } } : {}),
    },
  },
  test: {
    environment: 'jsdom',
    globals: true,
    setupFiles: ['./src/test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    reporters: ['default'],
    testTimeout: 20000,
  },
});
