#!/usr/bin/env node
/**
 * The default server left alone, as a developer leaves it: `node bench/idle-soak.mjs [idle seconds…]`
 * (after `npm run build`). Starts the built server on a new embedded database with the built-in
 * WeChat emulator, logs in once, then for each idle period (default 40 75 300: past the pool's 30 s
 * idle timeout, past the emulator's 5 s keep-alive, five minutes) waits that long and then logs in,
 * refreshes and asks `me`, printing each answer's error code (none: ok), its time and the server's
 * memory. Exits 1 if any of them failed. Talks to 127.0.0.1 only.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const say = (line) => process.stdout.write(`${line}\n`);
const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const idles = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const periods = idles.length > 0 ? idles : [40, 75, 300];
const MINI = 'wxdemomini000000001';

const freePort = () =>
  new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

const port = await freePort();
const emulatorPort = await freePort();
const dataDir = await mkdtemp(path.join(tmpdir(), 'idle-soak-'));
const base = `http://127.0.0.1:${port}`;
const child = spawn(process.execPath, [path.join(root, 'dist/src/main.js')], {
  cwd: root,
  env: {
    PATH: process.env.PATH,
    PORT: String(port),
    HOST: '127.0.0.1',
    EMULATOR_PORT: String(emulatorPort),
    EMBEDDED_DB_DIR: dataDir,
    LOG_LEVEL: 'warn',
  },
  stdio: ['ignore', 'pipe', 'pipe'],
});
let output = '';
child.stdout.on('data', (chunk) => (output += chunk));
child.stderr.on('data', (chunk) => (output += chunk));

async function rssMiB() {
  const status = await readFile(`/proc/${child.pid}/status`, 'utf8').catch(() => '');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
}

async function graphql(query, variables, token) {
  const started = performance.now();
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  const ms = performance.now() - started;
  return { body, ms, code: body.errors?.[0]?.extensions?.code ?? null };
}

async function login() {
  const minted = await fetch(`http://127.0.0.1:${emulatorPort}/__emulator/codes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ appid: MINI, user: 'soak' }),
  });
  const { code } = await minted.json();
  return graphql(
    'mutation ($code: String!) { wechatMiniLogin(input: { code: $code }) { accessToken refreshToken user { id } } }',
    { code },
  );
}

let failures = 0;
const row = (label, idle, result) => {
  if (result.code) failures++;
  return `${label.padEnd(8)} after ${String(idle).padStart(4)} s idle: ${(result.code ?? 'ok').padEnd(22)} ${result.ms.toFixed(1).padStart(7)} ms`;
};

try {
  const startedAt = performance.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server exited:\n${output}`);
    const ready = await fetch(`${base}/readyz`).catch(() => undefined);
    if (ready?.ok) break;
    if (performance.now() - startedAt > 120_000) throw new Error(`no answer in 120 s:\n${output}`);
    await sleep(200);
  }
  say(`server up in ${((performance.now() - startedAt) / 1000).toFixed(1)} s, RSS ${await rssMiB()} MiB`);
  const first = await login();
  say(row('login', 0, first));
  let refreshToken = first.body.data?.wechatMiniLogin.refreshToken;
  for (const idle of periods) {
    await sleep(idle * 1000);
    const again = await login();
    const refreshed = await graphql(
      'mutation ($t: String!) { refreshSession(refreshToken: $t) { accessToken refreshToken } }',
      { t: refreshToken },
    );
    refreshToken = refreshed.body.data?.refreshSession.refreshToken ?? refreshToken;
    const me = await graphql('{ me { id } }', {}, refreshed.body.data?.refreshSession.accessToken);
    if (!me.code && !me.body.data?.me) me.code = 'NO_USER';
    const ready = await fetch(`${base}/readyz`);
    say(row('login', idle, again));
    say(row('refresh', idle, refreshed));
    say(row('me', idle, me));
    say(`readyz   after ${String(idle).padStart(4)} s idle: ${ready.status}; RSS ${await rssMiB()} MiB`);
    if (ready.status !== 200) failures++;
  }
} finally {
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
  await rm(dataDir, { recursive: true, force: true });
}
say(failures === 0 ? 'idle soak: every answer ok' : `idle soak: ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
