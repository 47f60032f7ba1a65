/**
 * Jest's global setup. On the embedded database (no TEST_DATABASE_URL): makes, or finds, the
 * migrated database every test file starts from a copy of (test/support/embedded-template.ts, run
 * as its own process: Jest loads this file as CommonJS, the server's code is ESM TypeScript), and
 * hands its path to the test files in EMBEDDED_TEST_TEMPLATE.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

export default function embeddedTemplate() {
  if (process.env.TEST_DATABASE_URL) return;
  const root = path.resolve(import.meta.dirname, '../..');
  const result = spawnSync(
    process.execPath,
    ['--import', '@swc-node/register/esm-register', 'test/support/embedded-template.ts'],
    { cwd: root, env: { ...process.env, NODE_OPTIONS: '' }, encoding: 'utf8', timeout: 300_000 },
  );
  const file = result.stdout.trim().split('\n').at(-1);
  if (result.status !== 0 || !file) {
    throw new Error(`making the embedded test database failed (exit ${result.status}):\n${result.stderr}`);
  }
  process.env.EMBEDDED_TEST_TEMPLATE = file;
}
