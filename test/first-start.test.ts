import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DEMO_APPS } from '../src/emulator/apps.js';
import { createEmulator, type Emulator } from '../src/emulator/emulator.js';
import { emulatorControl } from './support/emulator.js';
import { postGraphQL } from './support/graphql.js';
import { freePort, spawnServer, type ServerProcess } from './support/process.js';

const MINI = DEMO_APPS.find((a) => a.kind === 'mini')!.appid;
const WEB = DEMO_APPS.find((a) => a.kind === 'web')!.appid;

async function stop(server: ServerProcess): Promise<void> {
  server.child.kill('SIGTERM');
  expect(await server.exited).toBe(0);
}

/** Holds a loopback port, as another program would. */
async function occupy(): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** src/main.ts as a child process: its arguments and, without AUTH_SECRET, its environment. */
const MAIN = ['--import', '@swc-node/register/esm-register', 'src/main.ts'];
function mainEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const { AUTH_SECRET: _unset, ...inherited } = process.env;
  return { ...inherited, NODE_OPTIONS: '', HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env };
}

/** src/main.ts run to its end (a refusal): exit code and what it printed. */
function runToExit(env: Record<string, string>): { status: number | null; stderr: string; stdout: string } {
  const result = spawnSync(process.execPath, MAIN, { env: mainEnv(env), encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, stderr: result.stderr, stdout: result.stdout };
}

/** runToExit, without blocking this process: for a refusal that asks a server of this process. */
async function runToExitAsync(
  env: Record<string, string>,
): Promise<{ status: number | null; stderr: string }> {
  const child = spawn(process.execPath, MAIN, { env: mainEnv(env), stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const status = await new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { status, stderr };
}

describe('development without AUTH_SECRET', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'wls-secret-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps one secret in the data directory (0600), said once, so a restart keeps keys and logins in progress', async () => {
    const dataDir = path.join(dir, 'pglite');
    const env = async () => ({
      EMBEDDED_DB_DIR: dataDir,
      WECHAT_EMULATOR: 'on',
      EMULATOR_PORT: String(await freePort()),
      AUTH_SECRET: '',
    });
    const first = await spawnServer(await env(), await freePort());
    expect(first.output()).toContain(`kept it in ${path.join(dataDir, 'auth-secret')}`);
    const file = await stat(path.join(dataDir, 'auth-secret'));
    expect(file.mode & 0o777).toBe(0o600);

    const started = (
      await postGraphQL<{ wechatWebAuthorizeUrl: { state: string } }>(
        first.url,
        'query ($r: String!) { wechatWebAuthorizeUrl(redirectUri: $r) { state } }',
        { r: 'http://localhost:5173/callback' },
      )
    ).body;
    const state = started.data!.wechatWebAuthorizeUrl.state;
    const firstKeys = (await (await fetch(`${first.url}/.well-known/jwks.json`)).json()) as {
      keys: { kid: string }[];
    };
    await stop(first);

    const second = await spawnServer(await env(), await freePort());
    try {
      expect(second.output()).not.toContain('kept it in');
      expect(second.output()).not.toContain('sealed with another AUTH_SECRET');
      const keys = (await (await fetch(`${second.url}/.well-known/jwks.json`)).json()) as typeof firstKeys;
      expect(keys.keys.map((k) => k.kid)).toEqual(firstKeys.keys.map((k) => k.kid));
      // The web login begun before the restart finishes after it: its state is still ours.
      const emulatorUrl = second.output().match(/SIMULATED by the built-in WeChat emulator at (\S+)/)![1]!;
      const code = await emulatorControl(emulatorUrl).code(WEB, 'alice');
      const login = (
        await postGraphQL<{ wechatWebLogin: { user: { id: string } } }>(
          second.url,
          'mutation ($c: String!, $s: String!) { wechatWebLogin(input: { code: $c, state: $s }) { user { id } } }',
          { c: code, s: state },
        )
      ).body;
      expect(login.errors).toBeUndefined();
      expect(login.data!.wechatWebLogin.user.id).toEqual(expect.any(String));
    } finally {
      await stop(second);
    }
  }, 120_000);

  it('gives starts at the same moment one secret, made by exactly one of them', async () => {
    const { loadConfig } = await import('../src/config.js');
    const { keepDevelopmentSecret } = await import('../src/development-secret.js');
    const config = loadConfig({ EMBEDDED_DB_DIR: path.join(dir, 'together') });
    const kept = await Promise.all(Array.from({ length: 8 }, () => keepDevelopmentSecret(config)));
    expect(kept.filter((k) => k.created)).toHaveLength(1);
    expect(new Set(kept.map((k) => k.config.authSecret)).size).toBe(1);
    expect(kept[0]!.config.authSecret).not.toBe(config.authSecret);
    const { readdir } = await import('node:fs/promises');
    expect(await readdir(path.join(dir, 'together'))).toEqual(['auth-secret']);
  });

  it('refuses a kept secret that is too short, naming the file', async () => {
    const dataDir = path.join(dir, 'short');
    const { mkdir, writeFile } = await import('node:fs/promises');
    await mkdir(dataDir, { recursive: true });
    await writeFile(path.join(dataDir, 'auth-secret'), 'short\n', { mode: 0o600 });
    const result = runToExit({ EMBEDDED_DB_DIR: dataDir, WECHAT_EMULATOR: 'off', PORT: '0' });
    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toBe(
      `Configuration error: AUTH_SECRET: unset, and ${path.join(dataDir, 'auth-secret')} does not hold a ` +
        'development secret of at least 32 characters (delete the file to make a new one, or set AUTH_SECRET)',
    );
  }, 60_000);
});

describe('a port already in use', () => {
  it('PORT: one line naming the port and the variable', async () => {
    const held = await occupy();
    try {
      const result = runToExit({
        EMBEDDED_DB_DIR: 'memory://',
        WECHAT_EMULATOR: 'off',
        PORT: String(held.port),
      });
      expect(result.status).toBe(1);
      expect(result.stderr.trim()).toBe(
        `Port ${held.port} (PORT) is already in use: is another server running? Stop it, or set PORT to a ` +
          `free port (PORT=${held.port + 1} npm start)`,
      );
    } finally {
      await held.close();
    }
  }, 60_000);

  it('METRICS_PORT: one line naming it', async () => {
    const held = await occupy();
    try {
      const result = runToExit({
        EMBEDDED_DB_DIR: 'memory://',
        WECHAT_EMULATOR: 'off',
        PORT: String(await freePort()),
        METRICS_PORT: String(held.port),
      });
      expect(result.status).toBe(1);
      expect(result.stderr.trim()).toBe(
        `Port ${held.port} (METRICS_PORT, the metrics listener) is already in use: set METRICS_PORT to a ` +
          'free port, or unset it',
      );
    } finally {
      await held.close();
    }
  }, 60_000);

  it('EMULATOR_PORT: one line naming it', async () => {
    const held = await occupy();
    try {
      const result = runToExit({
        EMBEDDED_DB_DIR: 'memory://',
        WECHAT_EMULATOR: 'on',
        EMULATOR_PORT: String(held.port),
        PORT: String(await freePort()),
      });
      expect(result.status).toBe(1);
      expect(result.stderr.trim()).toBe(
        `Port ${held.port} (EMULATOR_PORT, the built-in WeChat emulator) is already in use: set EMULATOR_PORT ` +
          'to a free port',
      );
    } finally {
      await held.close();
    }
  }, 60_000);

  it('npm run emulator: one line naming EMULATOR_PORT', async () => {
    const held = await occupy();
    try {
      const result = spawnSync(
        process.execPath,
        ['--import', '@swc-node/register/esm-register', 'src/emulator/main.ts'],
        {
          env: { ...process.env, NODE_OPTIONS: '', EMULATOR_PORT: String(held.port) },
          encoding: 'utf8',
          timeout: 30_000,
        },
      );
      expect(result.status).toBe(1);
      expect(result.stderr.trim()).toBe(
        `Port ${held.port} (EMULATOR_PORT) is already in use: an emulator may be running already ` +
          '(`npm start` without WeChat credentials runs one); use it, or set EMULATOR_PORT to a free port ' +
          `(EMULATOR_PORT=${held.port + 1} npm run emulator)`,
      );
    } finally {
      await held.close();
    }
  }, 60_000);
});

describe('a start where something is already running: one line before anything slow, no JSON', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'wls-running-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a second `npm start` on the same data directory names the running server, its pid and its address', async () => {
    const dataDir = path.join(dir, 'pglite');
    const ports = { PORT: String(await freePort()), EMULATOR_PORT: String(await freePort()) };
    const env = { EMBEDDED_DB_DIR: dataDir, WECHAT_EMULATOR: 'on' };
    const first = await spawnServer({ ...env, ...ports }, Number(ports.PORT));
    try {
      const line =
        `A WeChat login server (pid ${first.child.pid}) is already running on the embedded database in ` +
        `${dataDir}: use it at ${first.url}/graphql, or stop it (kill ${first.child.pid}); a second server ` +
        'beside it needs its own EMBEDDED_DB_DIR and PORT';
      // The same ports (what a newcomer does), and ports of its own: the same one line.
      for (const own of [
        ports,
        { PORT: String(await freePort()), EMULATOR_PORT: String(await freePort()) },
      ]) {
        const second = runToExit({ ...env, ...own });
        expect(second.status).toBe(1);
        expect(second.stderr.trim()).toBe(line);
        expect(second.stdout).toBe('');
      }
    } finally {
      await stop(first);
    }
  }, 120_000);

  it('a PORT held by another WeChat login server says so, before any database work', async () => {
    const running = await spawnServer(
      { EMBEDDED_DB_DIR: 'memory://', WECHAT_EMULATOR: 'off' },
      await freePort(),
    );
    try {
      const port = new URL(running.url).port;
      const dataDir = path.join(dir, 'never-made');
      const result = runToExit({ EMBEDDED_DB_DIR: dataDir, WECHAT_EMULATOR: 'off', PORT: port });
      expect(result.status).toBe(1);
      expect(result.stderr.trim()).toBe(
        `Port ${port} (PORT) is in use by a WeChat login server already running, at http://localhost:${port}/graphql: ` +
          `use that one, or stop it, or start this one on a free port (PORT=${Number(port) + 1} npm start)`,
      );
      // Refused before the embedded database was created or migrated.
      await expect(stat(dataDir)).rejects.toThrow();
    } finally {
      await stop(running);
    }
  }, 120_000);

  it('an EMULATOR_PORT held by a WeChat emulator offers to use it', async () => {
    const emulator = await createEmulator({ apps: DEMO_APPS });
    try {
      const result = await runToExitAsync({
        EMBEDDED_DB_DIR: 'memory://',
        WECHAT_EMULATOR: 'on',
        EMULATOR_PORT: String(emulator.port),
        PORT: String(await freePort()),
      });
      expect(result.status).toBe(1);
      expect(result.stderr.trim()).toBe(
        `Port ${emulator.port} (EMULATOR_PORT) is in use by a WeChat emulator already running: use it ` +
          `(WECHAT_EMULATOR_URL=http://127.0.0.1:${emulator.port} npm start), or set EMULATOR_PORT to a free port`,
      );
    } finally {
      await emulator.close();
    }
  }, 60_000);

  it('EMULATOR_PORT equal to PORT names both', () => {
    const result = runToExit({
      EMBEDDED_DB_DIR: 'memory://',
      WECHAT_EMULATOR: 'on',
      PORT: '4321',
      EMULATOR_PORT: '4321',
    });
    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toBe(
      'Configuration error: EMULATOR_PORT: must differ from PORT (both are 4321): the server listens on PORT ' +
        'and the built-in WeChat emulator on EMULATOR_PORT, each needs its own (unset EMULATOR_PORT for its default, 4100)',
    );
  }, 60_000);

  it('NODE_ENV=production lists every missing setting in one run, a line each', () => {
    const result = runToExit({ NODE_ENV: 'production', PORT: String(4000) });
    expect(result.status).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      'Configuration error: AUTH_SECRET: required when NODE_ENV=production (at least 32 characters)',
      'Configuration error: WECHAT_*_APPID: NODE_ENV=production needs at least one app (WECHAT_WEB_, WECHAT_APP_, ' +
        'WECHAT_MINI_ or WECHAT_OA_APPID and _SECRET, or WECHAT_APPS)',
      'Configuration error: DATABASE_URL: required when NODE_ENV=production (the embedded database is for development)',
    ]);
    expect(result.stdout).toBe('');
  }, 60_000);
});

describe('WECHAT_EMULATOR_URL', () => {
  let emulator: Emulator;
  beforeAll(async () => {
    emulator = await createEmulator({ apps: DEMO_APPS });
  });
  afterAll(async () => {
    await emulator.close();
  });

  it('uses the emulator already running there, with its demo apps, and starts none', async () => {
    const server = await spawnServer(
      { EMBEDDED_DB_DIR: 'memory://', WECHAT_EMULATOR_URL: emulator.url, LOG_LEVEL: 'info' },
      await freePort(),
    );
    try {
      expect(server.output()).toContain(
        `WeChat logins are SIMULATED by the WeChat emulator already running at ${emulator.url}`,
      );
      expect(server.output()).not.toContain('does not know');
      const code = await emulatorControl(emulator.url).code(MINI, 'carol');
      const login = (
        await postGraphQL<{ wechatMiniLogin: { isNewUser: boolean } }>(
          server.url,
          'mutation ($c: String!) { wechatMiniLogin(input: { code: $c }) { isNewUser } }',
          { c: code },
        )
      ).body;
      expect(login.errors).toBeUndefined();
      expect(login.data!.wechatMiniLogin.isNewUser).toBe(true);
    } finally {
      await stop(server);
    }
  }, 90_000);

  it('says at start when nothing answers there', async () => {
    const nobody = await freePort();
    const server = await spawnServer(
      { EMBEDDED_DB_DIR: 'memory://', WECHAT_EMULATOR_URL: `http://127.0.0.1:${nobody}`, LOG_LEVEL: 'warn' },
      await freePort(),
    );
    try {
      expect(server.output()).toContain(
        `no WeChat emulator answers at http://127.0.0.1:${nobody} (WECHAT_EMULATOR_URL): start one with npm run emulator`,
      );
    } finally {
      await stop(server);
    }
  }, 90_000);
});
