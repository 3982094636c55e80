// Prints the gzip size of the built script and fails the build past the budget (200 KB).
import { readdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';

const BUDGET = 200 * 1024;
const dir = new URL('../dist/assets/', import.meta.url).pathname;
let total = 0;
for (const file of readdirSync(dir).filter((f) => f.endsWith('.js'))) {
  const bytes = gzipSync(readFileSync(join(dir, file)), { level: 9 }).length;
  total += bytes;
  console.log(`dashboard: ${file} ${(bytes / 1024).toFixed(1)} KB gzip`);
}
console.log(`dashboard: script total ${(total / 1024).toFixed(1)} KB gzip (budget ${BUDGET / 1024} KB)`);
if (total > BUDGET) {
  console.error('dashboard: the script is over its budget');
  process.exit(1);
}
