import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { freePort, spawnServer } from './support/process.js';

describe('the server process', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'wechat-login-'));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('exits 0 on SIGTERM and SIGINT, and restarts on the same embedded data directory', async () => {
    const env = { EMBEDDED_DB_DIR: dataDir, LOG_LEVEL: 'info', WECHAT_EMULATOR: 'off' };
    const first = await spawnServer(env, await freePort());
    expect(first.output()).toContain('applied migrations');
    // A second process on the same directory is refused rather than corrupting it.
    await expect(spawnServer(env, await freePort())).rejects.toThrow(
      /exited early \(1\)[\s\S]*is in use by process/,
    );
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(first.output()).toContain('"msg":"stopped"');

    // The data survived: the second start finds its migrations already applied.
    const second = await spawnServer(env, await freePort());
    expect(second.output()).not.toContain('applied migrations');
    const response = await fetch(`${second.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ me { id } }' }),
    });
    expect(await response.json()).toEqual({ data: { me: null } });
    second.child.kill('SIGINT');
    second.child.kill('SIGINT'); // Ctrl-C arrives twice under npm: still a clean shutdown
    expect(await second.exited).toBe(0);
  }, 120_000);
});
