// The dashboard's API types are generated from docs/openapi.yaml and committed
// (src/lib/api-schema.d.ts): this fails when the document changed and `npm run gen:api` was
// not run, and shows that the check notices a change at all.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const dashboard = join(dirname(fileURLToPath(import.meta.url)), '../..');
const document = join(dashboard, '../docs/openapi.yaml');

/** Runs `node scripts/gen-api.mjs --check [args]`: its exit code and what it said. */
function check(...args: string[]): { code: number; output: string } {
  try {
    const output = execFileSync(process.execPath, ['scripts/gen-api.mjs', '--check', ...args], {
      cwd: dashboard,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { code: 0, output };
  } catch (error) {
    const failed = error as { status: number | null; stdout: string; stderr: string };
    return { code: failed.status ?? -1, output: failed.stdout + failed.stderr };
  }
}

describe('src/lib/api-schema.d.ts', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'dashboard-api-schema-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('is what docs/openapi.yaml generates (else run `npm run gen:api` in dashboard/)', () => {
    const result = check();
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain('matches docs/openapi.yaml');
  });

  it('is found stale when the document changes', () => {
    const original = readFileSync(document, 'utf8');
    const problem = '    Problem:\n      type: object\n';
    expect(original).toContain(problem);
    const changed = join(scratch, 'openapi.yaml');
    writeFileSync(changed, original.replace(problem, `${problem}      description: A changed document.\n`));
    const result = check('--input', changed);
    expect(result.code, result.output).toBe(1);
    expect(result.output).toContain('npm run gen:api');
  });
});
