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

  /** The script with only these arguments: its exit code and output, whatever the code. */
  const runAlone = (...args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', '@swc-node/register/esm-register', 'examples/mini-login.ts', ...args],
        { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' }, timeout: 60_000 },
        (error, stdout, stderr) => resolve({ code: error ? (error.code as number) : 0, stdout, stderr }),
      );
    });

  it.each(['--help', '-h'])('%s prints the usage and exits 0, calling nothing', async (flag) => {
    const { code, stdout, stderr } = await runAlone(flag, '--server', 'http://127.0.0.1:9');
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(stdout).toMatch(/^Usage: node .*examples\/mini-login\.ts \[options\]/);
    for (const option of [
      '--server URL',
      '--emulator URL',
      '--appid ID',
      '--user KEY',
      '--profile',
      '--nickname NAME',
      '-h, --help',
    ]) {
      expect(stdout).toContain(option);
    }
  });

  it.each([
    [['--bogus'], /Unknown option '--bogus'/],
    [['--user'], /'--user <value>' argument missing/],
    [['stray'], /Unexpected argument 'stray'/],
  ])('%j: says what is wrong and the usage on stderr, exit 2, no stack trace', async (args, reason) => {
    const { code, stdout, stderr } = await runAlone(...args);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(reason);
    expect(stderr).toContain('Usage: node');
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('says in one line, exit 1, when nothing answers at --emulator', async () => {
    const { freePort } = await import('./support/process.js');
    const nobody = `http://127.0.0.1:${await freePort()}`;
    const { code, stdout, stderr } = await runAlone('--server', t.url, '--emulator', nobody);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe(
      `Cannot reach ${nobody} (ECONNREFUSED): is \`npm start\` running? (--server, --emulator)\n`,
    );
  });

  it.each([
    [['--appid', 'wxbogus'], /^http:\/\/127\.0\.0\.1:\d+\/__emulator\/codes: .+\n$/, 1],
    [
      ['--emulator', '127.0.0.1:4100'],
      /^--emulator: not an http\(s\):\/\/ URL \(got "127\.0\.0\.1:4100"\)\n\nUsage: /,
      2,
    ],
  ])('%j: one line on stderr, no stack trace', async (args, message, exitCode) => {
    const { code, stderr } = await runAlone('--server', t.url, '--emulator', t.server.emulator!.url, ...args);
    expect(code).toBe(exitCode);
    expect(stderr).toMatch(message);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('mints a code, logs in as a mini program, and calls me', async () => {
    const first = await run('--user', 'carol');
    expect(first.stderr).toBe('');
    const id = /user ([0-9a-f-]{36}) \(new\)/.exec(first.stdout)?.[1];
    expect(id).toBeDefined();
    expect(first.stdout).toContain(`me → ${id}, login methods: WECHAT_MINI`);

    // WeChat's profile is anonymous ("微信用户"): the server stores no nickname from it.
    const again = await run('--user', 'carol', '--profile');
    expect(again.stderr).toBe('');
    expect(again.stdout).toContain(`user ${id} (returning), nickname (none)`);
  });

  it('sets the person’s own nickname with updateProfile after the login', async () => {
    const { stdout, stderr } = await run('--user', 'dina', '--profile', '--nickname', ' Dina 🌸 ');
    expect(stderr).toBe('');
    expect(stdout).toContain('nickname (none)\n');
    expect(stdout).toContain('updateProfile → nickname Dina 🌸\n');
    // Kept at the next login: WeChat's anonymous profile does not replace it.
    expect((await run('--user', 'dina', '--profile')).stdout).toContain('(returning), nickname Dina 🌸\n');
  });

  it('says what updateProfile refuses in one line, exit 1', async () => {
    const { code, stdout, stderr } = await runAlone(
      '--server',
      t.url,
      '--emulator',
      t.server.emulator!.url,
      '--nickname',
      '微信用户',
    );
    expect(code).toBe(1);
    expect(stdout).toContain('wechatMiniLogin → user');
    expect(stderr).toMatch(/^BAD_USER_INPUT: nickname "微信用户" is WeChat's anonymous placeholder.*\n$/);
  });
});
