/**
 * `npm run bench`: every scenario on the server and on the hand-written baseline
 * (bench/baseline/server.ts: the same SQL, sealing and signing with nothing in between), side by
 * side and interleaved, on real PostgreSQL with the WeChat emulator, and the ratio ours / baseline.
 *
 *   npm run bench
 *   npm run bench -- --only mini,new --rounds 3
 *
 * Scenarios (--only picks some): mini (returning-user mini login), new (first mini login), tail
 * (returning mini login at --tail-latency ms of WeChat latency with --tail-connections connections
 * back to back), web, app (returning-user logins), me, refresh.
 *
 * Options: --wechat-latency ms (0) for all but tail, --connections n (32), --tail-latency ms (50),
 * --tail-connections n (200), --duration s per run (6), --rounds n of the interleaved
 * ours/baseline runs (2), --users n returning users (500), --rate-limit (leave rate limits on,
 * with limits too high to refuse anything: the cost of counting; they are off by default; then
 * compare the rate limiter alone with the hand-written one it replaced, bench/rate-limit.ts),
 * --rate-limit-only (that comparison alone), --rate n requests/s offered over all connections (0,
 * the default: saturation), --think-ms t: clients that wait t ms after each answer (people using an
 * app) instead of autocannon's back-to-back requests, --ours-dir dir: run the server of another
 * built checkout as "ours" (before/after: `git worktree add ../before <commit>`, `npm ci && npm run
 * build` there, then `npm run bench -- --ours-dir ../before`). BENCH_NODE_FLAGS: extra node flags
 * for the server (V8 tuning experiments). BENCH_CPU_PROFILE=dir writes the server's
 * CPU profile (node --cpu-prof) there when it stops.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { Pool } from 'undici';
import { WebStateService } from '../src/logins/web-state.service.js';
import { compareRateLimiters } from './rate-limit.js';

const { values: args } = parseArgs({
  options: {
    'wechat-latency': { type: 'string', default: '0' },
    connections: { type: 'string', default: '32' },
    'tail-latency': { type: 'string', default: '50' },
    'tail-connections': { type: 'string', default: '200' },
    only: { type: 'string', default: 'mini,new,tail,web,app,me,refresh' },
    'ours-dir': { type: 'string', default: '.' },
    duration: { type: 'string', default: '6' },
    rounds: { type: 'string', default: '2' },
    users: { type: 'string', default: '500' },
    'rate-limit': { type: 'boolean', default: false },
    'rate-limit-only': { type: 'boolean', default: false },
    rate: { type: 'string', default: '0' },
    'think-ms': { type: 'string', default: '0' },
  },
});
const LATENCY = Number(args['wechat-latency']);
const CONNECTIONS = Number(args.connections);
const TAIL_LATENCY = Number(args['tail-latency']);
const TAIL_CONNECTIONS = Number(args['tail-connections']);
const ONLY = new Set(args.only.split(','));
/** A built checkout whose server runs as "ours" (an earlier commit, for before/after figures). */
const OURS_DIR = resolve(args['ours-dir']);
const DURATION = Number(args.duration);
const ROUNDS = Number(args.rounds);
const USERS = Number(args.users);
/** Offered load in requests/s over all connections; 0: as fast as the server answers (saturation). */
const RATE = Number(args.rate);
/**
 * Think time: with it, each of the --connections clients sends a request, waits for the answer,
 * then waits this long (client starts spread over one think time), like people using an app;
 * without it (0), each client sends its next request at once (autocannon, saturation).
 */
const THINK_MS = Number(args['think-ms']);

const AUTH_SECRET = 'bench-auth-secret-0123456789-abcdefghijklmnopq';
const APPS = {
  web: { appid: 'wxbenchweb', secret: 'bench-web-secret', kind: 'web', bound: true },
  app: { appid: 'wxbenchapp', secret: 'bench-app-secret', kind: 'app', bound: true },
  mini: { appid: 'wxbenchmini', secret: 'bench-mini-secret', kind: 'mini', bound: true },
};
const REDIRECT = 'https://bench.example/callback';

const out = (line = '') => process.stdout.write(`${line}\n`);

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

interface Load {
  rps: number;
  p50: number;
  p99: number;
  completed: number;
  sent: number;
  errors: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Clients with think time (see THINK_MS), over keep-alive connections; latency per request. */
async function thinkLoad(
  connections: number,
  url: string,
  path: string,
  headers: Record<string, string>,
  next: () => string,
): Promise<Load> {
  const pool = new Pool(url, { connections });
  const latencies: number[] = [];
  let errors = 0;
  let sent = 0;
  const started = Date.now();
  const end = started + DURATION * 1000;
  await Promise.all(
    Array.from({ length: connections }, async (_, i) => {
      await sleep((THINK_MS * i) / connections);
      while (Date.now() < end) {
        const body = next();
        sent += 1;
        const t0 = performance.now();
        try {
          const response = await pool.request({ method: 'POST', path, headers, body });
          const text = await response.body.text();
          if (response.statusCode !== 200 || text.includes('"errors"')) errors += 1;
          latencies.push(performance.now() - t0);
        } catch {
          errors += 1;
        }
        await sleep(THINK_MS);
      }
    }),
  );
  const elapsed = (Date.now() - started) / 1000;
  await pool.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return {
    rps: latencies.length / elapsed,
    p50: at(0.5),
    p99: at(0.99),
    completed: latencies.length,
    sent,
    errors,
  };
}

const children: ChildProcess[] = [];
/** Starts a node process and resolves once `readyUrl` answers. */
async function start(
  name: string,
  command: string[],
  env: Record<string, string>,
  readyUrl: string,
): Promise<ChildProcess> {
  const child = spawn(process.execPath, command, { env: { ...process.env, NODE_OPTIONS: '', ...env } });
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

/** CPU seconds (user + system) and peak RSS (MiB) of a process, from /proc. */
function usage(pid: number): { cpu: number; peakRssMiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]);
  const hwm = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return { cpu: ticks / 100, peakRssMiB: Math.round(Number(hwm) / 1024) };
}

async function post<T>(url: string, body: unknown, headers: Record<string, string> = {}): Promise<T> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

interface Figures {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  errors: number;
  cpuMsPerRequest: number;
  peakRssMiB: number;
  wechatCallsPerRequest: number;
  wechatConnections: number;
  /** Ours only (its /metrics, read every 250 ms): the most queries ever waiting for a pool connection. */
  poolWaitingMax: number;
  /** Ours only: the worst event-loop delay p99 of any 250 ms window, ms. */
  loopLagP99Ms: number;
}

/** Reads our server's /metrics every 250 ms while `work` runs: where requests wait. */
async function sampleQueues<T>(
  metricsUrl: string | undefined,
  work: () => Promise<T>,
): Promise<{ result: T; poolWaitingMax: number; loopLagP99Ms: number }> {
  let poolWaitingMax = 0;
  let loopLagP99Ms = 0;
  let running = true;
  const value = (text: string, name: string) =>
    Number(new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? 0);
  const sampler = (async () => {
    while (metricsUrl && running) {
      await sleep(250);
      const text = await fetch(metricsUrl).then(
        (r) => r.text(),
        () => '',
      );
      poolWaitingMax = Math.max(poolWaitingMax, value(text, 'wechat_login_db_pool_pending_acquires'));
      loopLagP99Ms = Math.max(
        loopLagP99Ms,
        1000 * value(text, 'wechat_login_nodejs_eventloop_lag_p99_seconds'),
      );
    }
  })();
  try {
    return { result: await work(), poolWaitingMax, loopLagP99Ms };
  } finally {
    running = false;
    await sampler;
  }
}

const Q = {
  mini: 'mutation ($input: WechatMiniLoginInput!) { wechatMiniLogin(input: $input) { accessToken refreshToken isNewUser user { id } } }',
  app: 'mutation ($input: WechatAppLoginInput!) { wechatAppLogin(input: $input) { accessToken refreshToken isNewUser user { id } } }',
  web: 'mutation ($input: WechatWebLoginInput!) { wechatWebLogin(input: $input) { accessToken refreshToken isNewUser user { id } } }',
  me: 'query { me { id } }',
  refresh: 'mutation ($t: String!) { refreshSession(refreshToken: $t) { accessToken refreshToken } }',
};

async function main(): Promise<void> {
  // A fresh database on the real server, dropped at the end.
  const adminUrl = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  const dbName = `wechat_bench_${Date.now()}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database "${dbName}"`);
  const dbUrlObject = new URL(adminUrl);
  dbUrlObject.pathname = `/${dbName}`;
  const dbUrl = dbUrlObject.toString();

  try {
    if (args['rate-limit-only']) {
      await compareRateLimiters(dbUrl, out);
      return;
    }
    const emulatorPort = await freePort();
    const emulatorUrl = `http://127.0.0.1:${emulatorPort}`;
    const emulator = await start(
      'emulator',
      ['dist/src/emulator/main.js'],
      { EMULATOR_PORT: String(emulatorPort), EMULATOR_APPS: JSON.stringify(Object.values(APPS)) },
      `http://127.0.0.1:${emulatorPort}/__emulator/stats`,
    );
    await post(`${emulatorUrl}/__emulator/latency`, { ms: LATENCY });

    const oursPort = await freePort();
    const metricsPort = await freePort();
    const ours = await start(
      'server',
      [
        ...(process.env.BENCH_CPU_PROFILE
          ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROFILE}`]
          : []),
        ...(process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? []),
        join(OURS_DIR, 'dist/src/main.js'),
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
        WECHAT_WEB_REDIRECT_URIS: REDIRECT,
        RATE_LIMIT: args['rate-limit'] ? 'on' : 'off',
        // With --rate-limit the counting is measured, not the refusing: one IP sends everything here.
        RATE_LIMIT_IP_PER_MINUTE: '100000000',
        RATE_LIMIT_IDENTITY_PER_MINUTE: '100000000',
        LOG_LEVEL: 'warn',
        METRICS_PORT: String(metricsPort),
      },
      `http://127.0.0.1:${oursPort}/healthz`,
    );
    const oursUrl = `http://127.0.0.1:${oursPort}`;

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
    const baselineUrl = `http://127.0.0.1:${baselinePort}`;

    const users = Array.from({ length: USERS }, (_, i) => `u${i}`);
    const codes = async (app: keyof typeof APPS, keys: string[]) =>
      (
        await post<{ codes: string[] }>(`${emulatorUrl}/__emulator/codes/batch`, {
          appid: APPS[app].appid,
          users: keys,
        })
      ).codes;

    // Returning users: each logs in once from the mini program, the app and the web.
    const states = new WebStateService({ authSecret: AUTH_SECRET, ttlSeconds: 3600 });
    const webApp = {
      kind: 'web',
      appId: APPS.web.appid,
      secret: APPS.web.secret,
      redirectUris: [REDIRECT],
    } as const;
    for (const [app, query] of [
      ['mini', Q.mini],
      ['app', Q.app],
      ['web', Q.web],
    ] as const) {
      const list = await codes(app, users);
      for (let i = 0; i < list.length; i += 50) {
        await Promise.all(
          list.slice(i, i + 50).map(async (code) => {
            const input =
              app === 'web'
                ? { code, state: states.issue(webApp, REDIRECT), redirectUri: REDIRECT }
                : { code };
            const body = await post<{ errors?: unknown }>(`${oursUrl}/graphql`, {
              query,
              variables: { input },
            });
            if (body.errors) throw new Error(`warm-up ${app}: ${JSON.stringify(body.errors)}`);
          }),
        );
      }
    }

    /** One run; `next()` gives each request its body (a fresh code every time). */
    async function run(
      target: { url: string; pid: number; metricsUrl?: string },
      path: string,
      next: () => string,
      headers: Record<string, string>,
      connections: number,
    ): Promise<Figures> {
      const statsBefore = (await (await fetch(`${emulatorUrl}/__emulator/stats`)).json()) as {
        calls: Record<string, number>;
        connections: number;
      };
      const before = usage(target.pid);
      const allHeaders = { 'content-type': 'application/json', ...headers };
      const drive = async (): Promise<Load> => {
        if (THINK_MS > 0) return thinkLoad(connections, target.url, path, allHeaders, next);
        let errors = 0;
        const result = await autocannon({
          url: target.url,
          connections,
          duration: DURATION,
          ...(RATE > 0 ? { overallRate: RATE } : {}),
          requests: [
            {
              method: 'POST',
              path,
              headers: allHeaders,
              setupRequest: (request) => ({ ...request, body: next() }),
              onResponse: (status, body) => {
                if (status !== 200 || body.includes('"errors"')) errors += 1;
              },
            },
          ],
        });
        return {
          rps: result.requests.average,
          p50: result.latency.p50,
          p99: result.latency.p99,
          completed: result.requests.total,
          sent: result.requests.sent,
          errors: errors + result.errors + result.timeouts + result.non2xx,
        };
      };
      const sampled = await sampleQueues(target.metricsUrl, drive);
      const load = sampled.result;
      const after = usage(target.pid);
      const statsAfter = (await (await fetch(`${emulatorUrl}/__emulator/stats`)).json()) as {
        calls: Record<string, number>;
        connections: number;
      };
      const calls =
        Object.values(statsAfter.calls).reduce((a, b) => a + b, 0) -
        Object.values(statsBefore.calls).reduce((a, b) => a + b, 0);
      const requests = load.completed;
      return {
        rps: load.rps,
        p50: load.p50,
        p99: load.p99,
        requests,
        errors: load.errors,
        cpuMsPerRequest: ((after.cpu - before.cpu) * 1000) / Math.max(1, requests),
        peakRssMiB: after.peakRssMiB,
        // Per request sent: requests still in flight when the run stops made their calls too.
        wechatCallsPerRequest: calls / Math.max(1, load.sent),
        wechatConnections: statsAfter.connections - statsBefore.connections,
        poolWaitingMax: sampled.poolWaitingMax,
        loopLagP99Ms: sampled.loopLagP99Ms,
      };
    }

    const budget = DURATION * 6000; // codes per run: more than this machine can use
    const o = { url: oursUrl, pid: ours.pid!, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics` };
    const b = { url: baselineUrl, pid: baseline.pid! };
    const gqlBody = (query: string, variables: unknown) => JSON.stringify({ query, variables });
    const cycle = (list: string[], make: (item: string) => string) => {
      let i = 0;
      return () => make(list[i++ % list.length]!);
    };
    /** Codes of returning users, round robin over them. */
    const returning = (app: keyof typeof APPS) =>
      codes(
        app,
        Array.from({ length: budget }, (_, i) => users[i % USERS]!),
      );
    let fresh = 0;
    /** Codes of people never seen before. */
    const newcomers = () =>
      codes(
        'mini',
        Array.from({ length: budget }, () => `new${fresh++}`),
      );

    // Bearer tokens for `me`, each server its own (the baseline signs with its own key).
    const [oursCode, baseCode] = await codes('mini', ['u0', 'u0']);
    const oursToken = (
      await post<{ data: { wechatMiniLogin: { accessToken: string } } }>(`${oursUrl}/graphql`, {
        query: Q.mini,
        variables: { input: { code: oursCode } },
      })
    ).data.wechatMiniLogin.accessToken;
    const baseToken = (
      await post<{ data: { accessToken: string } }>(`${baselineUrl}/login/mini`, { code: baseCode })
    ).data.accessToken;

    // Refresh tokens are single use: plant enough of them, by hash, for every run.
    let planted = 0;
    const plantRefreshTokens = async (): Promise<string[]> => {
      const from = planted;
      planted += budget;
      const client = new pg.Client({ connectionString: dbUrl });
      await client.connect();
      await client.query(
        `with u as (select user_id from user_login_method where open_id is not null limit 1),
              s as (insert into session (id, created_at, updated_at, user_id, expires_at)
                    select gen_random_uuid(), now(), now(), u.user_id, now() + interval '1 day' from u, generate_series(1, $1)
                    returning id)
         insert into refresh_token (token_hash, session_id, created_at)
         select rtrim(translate(encode(sha256(convert_to('rt_bench_' || ($2 + row_number() over ()), 'UTF8')), 'base64'), '+/', '-_'), '='), id, now()
         from s`,
        [budget, from],
      );
      await client.end();
      return Array.from({ length: budget }, (_, i) => `rt_bench_${from + i + 1}`);
    };

    /** A scenario: each server's path and request bodies (made fresh for each run). */
    interface Scenario {
      key: string;
      name: string;
      latency: number;
      connections: number;
      ours: () => Promise<{ path: string; next: () => string; headers?: Record<string, string> }>;
      baseline: () => Promise<{ path: string; next: () => string; headers?: Record<string, string> }>;
    }
    const miniReturning = (latency: number, connections: number, key: string, name: string): Scenario => ({
      key,
      name,
      latency,
      connections,
      ours: async () => ({
        path: '/graphql',
        next: cycle(await returning('mini'), (code) => gqlBody(Q.mini, { input: { code } })),
      }),
      baseline: async () => ({
        path: '/login/mini',
        next: cycle(await returning('mini'), (code) => JSON.stringify({ code })),
      }),
    });
    const webInput = (code: string) => ({
      code,
      state: states.issue(webApp, REDIRECT),
      redirectUri: REDIRECT,
    });
    const scenarios: Scenario[] = [
      miniReturning(LATENCY, CONNECTIONS, 'mini', 'mini login, returning'),
      {
        key: 'new',
        name: 'mini login, new user',
        latency: LATENCY,
        connections: CONNECTIONS,
        ours: async () => ({
          path: '/graphql',
          next: cycle(await newcomers(), (code) => gqlBody(Q.mini, { input: { code } })),
        }),
        baseline: async () => ({
          path: '/login/mini',
          next: cycle(await newcomers(), (code) => JSON.stringify({ code })),
        }),
      },
      miniReturning(
        TAIL_LATENCY,
        TAIL_CONNECTIONS,
        'tail',
        `mini login, returning, ${TAIL_LATENCY} ms WeChat, ${TAIL_CONNECTIONS} conns`,
      ),
      {
        key: 'web',
        name: 'web login, returning',
        latency: LATENCY,
        connections: CONNECTIONS,
        ours: async () => ({
          path: '/graphql',
          next: cycle(await returning('web'), (code) => gqlBody(Q.web, { input: webInput(code) })),
        }),
        baseline: async () => ({
          path: '/login/web',
          next: cycle(await returning('web'), (code) => JSON.stringify(webInput(code))),
        }),
      },
      {
        key: 'app',
        name: 'app login, returning',
        latency: LATENCY,
        connections: CONNECTIONS,
        ours: async () => ({
          path: '/graphql',
          next: cycle(await returning('app'), (code) => gqlBody(Q.app, { input: { code } })),
        }),
        baseline: async () => ({
          path: '/login/app',
          next: cycle(await returning('app'), (code) => JSON.stringify({ code })),
        }),
      },
      {
        key: 'me',
        name: 'me (with a token)',
        latency: LATENCY,
        connections: CONNECTIONS,
        ours: async () => ({
          path: '/graphql',
          next: () => gqlBody(Q.me, {}),
          headers: { authorization: `Bearer ${oursToken}` },
        }),
        baseline: async () => ({
          path: '/me',
          next: () => '{}',
          headers: { authorization: `Bearer ${baseToken}` },
        }),
      },
      {
        key: 'refresh',
        name: 'refreshSession',
        latency: LATENCY,
        connections: CONNECTIONS,
        ours: async () => ({
          path: '/graphql',
          next: cycle(await plantRefreshTokens(), (t) => gqlBody(Q.refresh, { t })),
        }),
        baseline: async () => ({
          path: '/refresh',
          next: cycle(await plantRefreshTokens(), (t) => JSON.stringify({ refreshToken: t })),
        }),
      },
    ].filter((scenario) => ONLY.has(scenario.key));

    // A short warm-up of every scenario on both (JIT, pools, keep-alive connections), not counted.
    for (const scenario of scenarios) {
      await post(`${emulatorUrl}/__emulator/latency`, { ms: scenario.latency });
      for (const side of ['ours', 'baseline'] as const) {
        const { path, next, headers = {} } = await scenario[side]();
        await autocannon({
          url: side === 'ours' ? oursUrl : baselineUrl,
          connections: scenario.connections,
          duration: 1,
          requests: [
            {
              method: 'POST',
              path,
              headers: { 'content-type': 'application/json', ...headers },
              setupRequest: (request) => ({ ...request, body: next() }),
            },
          ],
        });
      }
    }

    // Interleaved: ours, baseline, ours, baseline… on the same database, emulator and machine.
    const figures = new Map<Scenario, { ours: Figures[]; baseline: Figures[] }>(
      scenarios.map((scenario) => [scenario, { ours: [], baseline: [] }]),
    );
    for (let round = 0; round < ROUNDS; round++) {
      for (const scenario of scenarios) {
        await post(`${emulatorUrl}/__emulator/latency`, { ms: scenario.latency });
        for (const side of ['ours', 'baseline'] as const) {
          const target = side === 'ours' ? o : b;
          const { path, next, headers = {} } = await scenario[side]();
          figures.get(scenario)![side].push(await run(target, path, next, headers, scenario.connections));
        }
      }
    }
    const mean = (runs: Figures[]): Figures => ({
      ...runs[0]!,
      ...Object.fromEntries(
        (
          [
            'rps',
            'p50',
            'p99',
            'cpuMsPerRequest',
            'wechatCallsPerRequest',
            'wechatConnections',
            'loopLagP99Ms',
          ] as const
        ).map((k) => [k, runs.reduce((sum, r) => sum + r[k], 0) / runs.length]),
      ),
      requests: runs.reduce((sum, r) => sum + r.requests, 0),
      errors: runs.reduce((sum, r) => sum + r.errors, 0),
      peakRssMiB: Math.max(...runs.map((r) => r.peakRssMiB)),
      poolWaitingMax: Math.max(...runs.map((r) => r.poolWaitingMax)),
    });

    // The table.
    out();
    out(
      `WeChat login server benchmark: ${os.cpus().length} cores, Node ${process.version}, PostgreSQL at ${new URL(adminUrl).host}`,
    );
    out(
      `WeChat latency ${LATENCY} ms (tail: ${TAIL_LATENCY} ms), ${CONNECTIONS} ${THINK_MS > 0 ? `clients thinking ${THINK_MS} ms between requests` : `connections (tail: ${TAIL_CONNECTIONS}), ${RATE > 0 ? `${RATE} req/s offered` : 'saturation'}`}, ` +
        `${DURATION} s per run, ${ROUNDS} interleaved rounds ours/baseline (means), rate limits ${args['rate-limit'] ? 'on' : 'off'}`,
    );
    out();
    const header = [
      'scenario',
      'ours req/s',
      'base req/s',
      'ratio',
      'ours p50',
      'ours p99',
      'base p50',
      'base p99',
      'p99 ratio',
      'errors',
      'ours CPU ms',
      'base CPU ms',
      'WeChat calls',
      'pool wait',
      'loop lag p99',
    ];
    const rows: string[][] = [];
    let errors = 0;
    for (const [scenario, runs] of figures) {
      const us = mean(runs.ours);
      const them = mean(runs.baseline);
      errors += us.errors + them.errors;
      rows.push([
        scenario.name,
        us.rps.toFixed(0),
        them.rps.toFixed(0),
        (us.rps / them.rps).toFixed(2),
        us.p50.toFixed(1),
        us.p99.toFixed(1),
        them.p50.toFixed(1),
        them.p99.toFixed(1),
        (us.p99 / them.p99).toFixed(2),
        `${us.errors}/${them.errors}`,
        us.cpuMsPerRequest.toFixed(2),
        them.cpuMsPerRequest.toFixed(2),
        us.wechatCallsPerRequest.toFixed(2),
        String(us.poolWaitingMax),
        us.loopLagP99Ms.toFixed(1),
      ]);
    }
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
    for (const row of [header, ...rows])
      out(row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '));
    out();
    out(
      'ratio: ours / baseline req/s; p99 ratio: ours / baseline p99; latencies in ms; CPU ms: CPU time per request; ' +
        'WeChat calls: ours, per request sent; pool wait: the most queries ours ever had waiting for a ' +
        'database connection; loop lag p99: ours, worst event-loop delay p99 of a 250 ms window, ms',
    );
    out(
      `peak RSS under load (VmHWM): ours ${usage(o.pid).peakRssMiB} MiB, baseline ${usage(b.pid).peakRssMiB} MiB`,
    );
    out(errors === 0 ? 'errors: 0' : `errors: ${errors} (must be 0)`);
    void emulator;
    if (errors !== 0) process.exitCode = 1;
    if (args['rate-limit']) {
      // The limiter alone, once the servers are gone (they would share the CPUs).
      for (const child of children) child.kill('SIGTERM');
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await compareRateLimiters(dbUrl, out);
    }
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await admin.query(`drop database if exists "${dbName}" with (force)`).catch(() => undefined);
    await admin.end();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  for (const child of children) child.kill('SIGKILL');
  process.exit(1);
});
