import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import type { BenchOptions } from './options.js';

/**
 * What the bench starts and stops: a fresh database on the real PostgreSQL, the WeChat emulator,
 * our server (from the checkout of --ours-dir) and the hand-written baseline
 * (bench/baseline/server.ts), all configured with the same WeChat apps and secret.
 */

export const AUTH_SECRET = 'bench-auth-secret-0123456789-abcdefghijklmnopq';
export const APPS = {
  web: { appid: 'wxbenchweb', secret: 'bench-web-secret', kind: 'web', bound: true },
  app: { appid: 'wxbenchapp', secret: 'bench-app-secret', kind: 'app', bound: true },
  mini: { appid: 'wxbenchmini', secret: 'bench-mini-secret', kind: 'mini', bound: true },
  // Follow-login (bench/follow.ts), in safe mode as production has it.
  official: {
    appid: 'wxbenchoa',
    secret: 'bench-oa-secret',
    kind: 'official',
    bound: true,
    token: 'benchOaToken1',
    aesKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
  },
};
export type AppName = keyof typeof APPS;
export const REDIRECT = 'https://bench.example/callback';

/** A server under load: where it answers, its pid (for /proc) and, for ours, its /metrics. */
export interface Server {
  url: string;
  pid: number;
  metricsUrl?: string;
  child?: ChildProcess;
}

export interface Servers {
  emulatorUrl: string;
  ours: Server;
  baseline: Server;
}

export async function post<T>(url: string, body: unknown, headers: Record<string, string> = {}): Promise<T> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

/** A fresh database on the real server (DATABASE_URL's), dropped at the end; `label` tells two apart. */
export async function createDatabase(
  label = '',
): Promise<{ url: string; host: string; drop: () => Promise<void> }> {
  const adminUrl = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  const dbName = `wechat_bench_${Date.now()}${label && `_${label}`}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database "${dbName}"`);
  const dbUrlObject = new URL(adminUrl);
  dbUrlObject.pathname = `/${dbName}`;
  return {
    url: dbUrlObject.toString(),
    host: new URL(adminUrl).host,
    drop: async () => {
      await admin.query(`drop database if exists "${dbName}" with (force)`).catch(() => undefined);
      await admin.end();
    },
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const children: ChildProcess[] = [];

/** Starts a node process and resolves once `readyUrl` answers. */
export async function start(
  name: string,
  command: string[],
  env: Record<string, string>,
  readyUrl: string,
  /** An IPC channel to the child (bench/gc-probe.mjs answers on it). */
  ipc = false,
): Promise<ChildProcess> {
  const child = spawn(process.execPath, command, {
    env: { ...process.env, NODE_OPTIONS: '', ...env },
    stdio: ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let log = '';
  child.stdout!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) break;
    const up = await fetch(readyUrl).then(
      () => true,
      () => false,
    );
    if (up) return child;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${name} did not start:\n${log}`);
}

/** Signals every process started here (SIGKILL when the bench itself fails). */
export function killProcesses(signal: NodeJS.Signals): void {
  for (const child of children) child.kill(signal);
}

/** SIGTERM to every process started here, then 1.5 s for them to go (and write CPU profiles). */
export async function stopProcesses(): Promise<void> {
  killProcesses('SIGTERM');
  await new Promise((resolve) => setTimeout(resolve, 1500));
}

export async function setWechatLatency(emulatorUrl: string, ms: number): Promise<void> {
  await post(`${emulatorUrl}/__emulator/latency`, { ms });
}

/**
 * The built emulator on a free port, playing APPS; its URL. `eventUrl`: where it pushes the
 * official account's events (a server of ours whose port is chosen before it starts).
 */
export async function startEmulator(eventUrl?: string): Promise<string> {
  const emulatorPort = await freePort();
  const emulatorUrl = `http://127.0.0.1:${emulatorPort}`;
  const apps = Object.values(APPS).map((app) =>
    app.kind === 'official' && eventUrl ? { ...app, eventUrl } : app,
  );
  await start(
    'emulator',
    ['dist/src/emulator/main.js'],
    { EMULATOR_PORT: String(emulatorPort), EMULATOR_APPS: JSON.stringify(apps) },
    `${emulatorUrl}/__emulator/stats`,
  );
  return emulatorUrl;
}

/** The emulator (at --wechat-latency), our server, then the baseline (or --vs's server), on free ports. */
export async function startServers(options: BenchOptions, dbUrl: string): Promise<Servers> {
  const emulatorUrl = await startEmulator();
  await setWechatLatency(emulatorUrl, options.wechatLatency);
  const ours = await startOurs(options, dbUrl, emulatorUrl);
  const baseline = options.vsDir
    ? await startOurs(
        { ...options, oursDir: options.vsDir },
        dbUrl,
        emulatorUrl,
        false,
        undefined,
        {},
        process.env.BENCH_VS_NODE_FLAGS,
      )
    : await startBaseline(dbUrl, emulatorUrl);
  return { emulatorUrl, ours, baseline };
}

/** Our built server (dist/src/main.js of --ours-dir), in production mode, /metrics on its own port. */
export async function startOurs(
  options: BenchOptions,
  dbUrl: string,
  emulatorUrl: string,
  /** Run it under bench/gc-probe.mjs: the returned `child` then answers heap measurements. */
  gcProbe = false,
  /** Its port, chosen beforehand (the emulator pushes there); a free one otherwise. */
  port?: number,
  /** More environment on top (OIDC_CLIENTS, …). */
  env: Record<string, string> = {},
  /** Extra node flags, space-separated (V8 experiments). */
  nodeFlags = process.env.BENCH_NODE_FLAGS,
): Promise<Server> {
  const oursPort = port ?? (await freePort());
  const metricsPort = await freePort();
  const ours = await start(
    'server',
    [
      ...(process.env.BENCH_CPU_PROFILE
        ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROFILE}`]
        : []),
      ...(nodeFlags?.split(' ').filter(Boolean) ?? []),
      ...(gcProbe ? ['--expose-gc', 'bench/gc-probe.mjs'] : []),
      join(options.oursDir, 'dist/src/main.js'),
    ],
    {
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(oursPort),
      DATABASE_URL: dbUrl,
      AUTH_SECRET,
      WECHAT_API_BASE_URL: emulatorUrl,
      WECHAT_OPEN_BASE_URL: emulatorUrl,
      WECHAT_WEB_APPID: APPS.web.appid,
      WECHAT_WEB_SECRET: APPS.web.secret,
      WECHAT_APP_APPID: APPS.app.appid,
      WECHAT_APP_SECRET: APPS.app.secret,
      WECHAT_MINI_APPID: APPS.mini.appid,
      WECHAT_MINI_SECRET: APPS.mini.secret,
      WECHAT_OA_APPID: APPS.official.appid,
      WECHAT_OA_SECRET: APPS.official.secret,
      WECHAT_OA_TOKEN: APPS.official.token,
      WECHAT_OA_AES_KEY: APPS.official.aesKey,
      WECHAT_WEB_REDIRECT_URIS: REDIRECT,
      RATE_LIMIT: options.rateLimit ? 'on' : 'off',
      // With --rate-limit the counting is measured, not the refusing: one IP sends everything here.
      RATE_LIMIT_IP_PER_MINUTE: '100000000',
      RATE_LIMIT_IDENTITY_PER_MINUTE: '100000000',
      LOG_LEVEL: 'warn',
      METRICS_PORT: String(metricsPort),
      WEB_CONCURRENCY: String(options.webConcurrency),
      ...env,
    },
    // With workers, /healthz answers once the first listens; /metrics once every one is ready.
    options.webConcurrency > 1
      ? `http://127.0.0.1:${metricsPort}/metrics`
      : `http://127.0.0.1:${oursPort}/healthz`,
    gcProbe,
  );
  return {
    url: `http://127.0.0.1:${oursPort}`,
    pid: ours.pid!,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    child: ours,
  };
}

/** The hand-written baseline, its TypeScript run through @swc-node/register. */
async function startBaseline(dbUrl: string, emulatorUrl: string): Promise<Server> {
  const baselinePort = await freePort();
  const baseline = await start(
    'baseline',
    ['--import', '@swc-node/register/esm-register', 'bench/baseline/server.ts'],
    {
      PORT: String(baselinePort),
      DATABASE_URL: dbUrl,
      AUTH_SECRET,
      WECHAT_API_BASE_URL: emulatorUrl,
      MINI_APPID: APPS.mini.appid,
      MINI_SECRET: APPS.mini.secret,
      APP_APPID: APPS.app.appid,
      APP_SECRET: APPS.app.secret,
      WEB_APPID: APPS.web.appid,
      WEB_SECRET: APPS.web.secret,
      WEB_REDIRECT: REDIRECT,
      // The server's pool: DATABASE_POOL_MAX's default.
      POOL_MAX: '10',
    },
    `http://127.0.0.1:${baselinePort}/`,
  );
  return { url: `http://127.0.0.1:${baselinePort}`, pid: baseline.pid! };
}
