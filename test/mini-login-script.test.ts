import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from './support/server.js';

describe('examples/mini-login.ts', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ WECHAT_EMULATOR: 'on', EMULATOR_PORT: '0' });
  });
  afterAll(async () => {
    await t?.stop();
  });

  // Asynchronous: the server under test runs in this process.
  const run = (...args: string[]) =>
    promisify(execFile)(
      process.execPath,
      [
        '--import',
        '@swc-node/register/esm-register',
        'examples/mini-login.ts',
        '--server',
        t.url,
        '--emulator',
        t.server.emulator!.url,
        ...args,
      ],
      { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' }, timeout: 60_000 },
    );

  it('mints a code, logs in as a mini program, and calls me', async () => {
    const first = await run('--user', 'carol');
    expect(first.stderr).toBe('');
    const id = /user ([0-9a-f-]{36}) \(new\)/.exec(first.stdout)?.[1];
    expect(id).toBeDefined();
    expect(first.stdout).toContain(`me → ${id}, login methods: WECHAT_MINI`);

    const again = await run('--user', 'carol', '--profile');
    expect(again.stdout).toContain(`user ${id} (returning), nickname carol`);
  });
});
