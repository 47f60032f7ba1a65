import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { emulatorControl } from './support/emulator.js';
import { eventually } from './support/eventually.js';
import { postGraphQL } from './support/graphql.js';
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
      /exited early \(1\)[\s\S]*is already running on the embedded database/,
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

describe('graceful shutdown', () => {
  it('finishes a request in flight on SIGTERM, then exits 0', async () => {
    const emulatorPort = await freePort();
    const server = await spawnServer(
      {
        EMBEDDED_DB_DIR: 'memory://',
        WECHAT_EMULATOR: 'on',
        EMULATOR_PORT: String(emulatorPort),
        LOG_LEVEL: 'warn',
      },
      await freePort(),
    );
    const emulator = emulatorControl(`http://127.0.0.1:${emulatorPort}`);
    const code = await emulator.code('wxdemomini000000001', 'alice');
    // WeChat answers slowly, so the login is still running when the signal comes.
    await emulator.post('/__emulator/faults', { path: '/sns/jscode2session', delayMs: 1500 });
    const login = postGraphQL(
      server.url,
      'mutation ($c: String!) { wechatMiniLogin(input: { code: $c }) { isNewUser } }',
      { c: code },
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    server.child.kill('SIGTERM');
    const response = await login;
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ data: { wechatMiniLogin: { isNewUser: true } } });
    const exit = await server.exited;
    if (exit !== 0) throw new Error(server.output().slice(-3000));
    // New connections are refused once it has stopped.
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  }, 60_000);
});

describe('readiness on SIGTERM', () => {
  it('answers 503 on /readyz at once, keeps serving for SHUTDOWN_DRAIN_SECONDS, then exits 0', async () => {
    const server = await spawnServer(
      {
        EMBEDDED_DB_DIR: 'memory://',
        WECHAT_EMULATOR: 'off',
        LOG_LEVEL: 'info',
        SHUTDOWN_DRAIN_SECONDS: '3',
      },
      await freePort(),
    );
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    const signalled = Date.now();
    server.child.kill('SIGTERM');
    await eventually(async () => {
      const ready = await fetch(`${server.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ status: 'stopping' });
    }, 2000);
    // Draining: not ready, but alive and still answering requests.
    expect(Date.now() - signalled).toBeLessThan(2500);
    const live = await fetch(`${server.url}/livez`);
    expect(live.status).toBe(200);
    expect(await (await fetch(`${server.url}/healthz`)).json()).toEqual({ status: 'stopping' });
    const me = await postGraphQL(server.url, '{ me { id } }');
    expect(me).toMatchObject({ status: 200, body: { data: { me: null } } });
    const exit = await server.exited;
    if (exit !== 0) throw new Error(server.output().slice(-3000));
    expect(Date.now() - signalled).toBeGreaterThanOrEqual(3000);
    expect(server.output()).toContain('"msg":"stopped"');
  }, 60_000);
});
