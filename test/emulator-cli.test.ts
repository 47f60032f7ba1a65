import { spawn, spawnSync } from 'node:child_process';
import { describe, expect, it } from '@jest/globals';
import { emulatorControl } from './support/emulator.js';
import { freePort } from './support/process.js';
import { startTestServer } from './support/server.js';

const ENTRY = ['--import', '@swc-node/register/esm-register', 'src/emulator/main.ts'];

describe('npm run emulator', () => {
  it('listens on EMULATOR_PORT with the apps of EMULATOR_APPS and prints a curl example', async () => {
    const port = await freePort();
    const apps = [{ appid: 'wxcli', secret: 'cli-secret', kind: 'mini', bound: false }];
    const child = spawn(process.execPath, ENTRY, {
      env: {
        ...process.env,
        NODE_OPTIONS: '',
        EMULATOR_PORT: String(port),
        EMULATOR_APPS: JSON.stringify(apps),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    try {
      for (let i = 0; i < 150 && !out.includes('jscode2session'); i++)
        await new Promise((r) => setTimeout(r, 100));
      expect(out).toContain(`http://127.0.0.1:${port}`);
      expect(out).toContain('wxcli  kind=mini  bound=false');
      expect(out).toContain('curl -s -XPOST');
      const code = await emulatorControl(`http://127.0.0.1:${port}`).code('wxcli', 'alice');
      const url = `http://127.0.0.1:${port}/sns/jscode2session?appid=wxcli&secret=cli-secret&js_code=${code}&grant_type=authorization_code`;
      const first = JSON.parse(await (await fetch(url)).text()) as Record<string, unknown>;
      expect(first).toEqual({ openid: expect.any(String), session_key: expect.any(String) });
      const second = JSON.parse(await (await fetch(url)).text()) as Record<string, unknown>;
      expect(second.errcode).toBe(40163);
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  }, 30_000);

  it.each([
    [
      { EMULATOR_APPS: '[{"appid":"wx1","secret":"s","kind":"desktop"}]' },
      /^Configuration error: EMULATOR_APPS: \[0\]\.kind: /,
    ],
    [{ EMULATOR_APPS: 'not json' }, /^Configuration error: EMULATOR_APPS: not valid JSON$/],
    [{ NODE_ENV: 'production' }, /^The WeChat emulator does not run with NODE_ENV=production\.$/],
  ])('refuses %j with one line and exit code 1', (env, pattern) => {
    const result = spawnSync(process.execPath, ENTRY, {
      env: { ...process.env, NODE_OPTIONS: '', EMULATOR_PORT: '0', ...env },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toMatch(pattern);
  });
});

describe('the server with WECHAT_EMULATOR on', () => {
  it('starts the emulator in-process with demo apps and users and points the WeChat client at it', async () => {
    const t = await startTestServer({ WECHAT_EMULATOR: 'on', EMULATOR_PORT: '0' });
    try {
      const emulator = t.server.emulator!;
      expect(emulator).toBeDefined();
      expect(t.server.config.wechat.apiBaseUrl).toBe(emulator.url);
      expect(t.server.config.wechat.openBaseUrl).toBe(emulator.url);
      expect(t.server.config.wechat.apps.map((a) => [a.kind, a.appId])).toEqual([
        ['web', 'wxdemoweb0000000001'],
        ['app', 'wxdemoapp0000000001'],
        ['mini', 'wxdemomini000000001'],
        ['official', 'wxdemoofficial00001'],
      ]);
      const users = (await (await fetch(`${emulator.url}/__emulator/users`)).json()) as {
        users: { key: string }[];
      };
      expect(users.users.map((u) => u.key)).toEqual(['alice', 'bob']);
      expect(t.log.text()).not.toContain('demo-mini-secret');
    } finally {
      await t.stop();
    }
  });
});
