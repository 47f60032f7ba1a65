import { readFileSync } from 'node:fs';
import { Pool } from 'undici';
import { QUERIES } from './fixtures.js';
import { usage } from './measure.js';
import type { BenchOptions } from './options.js';
import {
  APPS,
  AUTH_SECRET,
  createDatabase,
  freePort,
  post,
  REDIRECT,
  setWechatLatency,
  start,
  startEmulator,
  startOurs,
  stopProcesses,
  type Server,
} from './processes.js';
import { percentile } from './tickets.js';

/**
 * `npm run bench -- --peer`: a complete website QR login (both steps) on our server and on
 * better-auth (bench/peer/better-auth-server.ts: its WeChat social provider as its docs configure
 * it, its own database on the same PostgreSQL), both on the same emulator, interleaved (ours,
 * better-auth, ours, better-auth… --rounds), and the ratio of their logins per second.
 *
 * One login, as a browser makes it (WeChat's QR page itself is skipped: the emulator mints the
 * code the person's scan would give, for the website app of both):
 * - ours: `wechatWebAuthorizeUrl(redirectUri)` (the URL and its state), then
 *   `wechatWebLogin(input: {code, state, redirectUri})`, both POST /graphql;
 * - better-auth: POST /api/auth/sign-in/social {provider: 'wechat', callbackURL} (the URL, whose
 *   state is kept, and its state cookie), then GET /api/auth/callback/wechat?code&state with that
 *   cookie, answered by a redirect to callbackURL that sets the session cookie.
 * --users returning users (each signed up once on each side before anything is measured), round
 * robin; --connections clients on keep-alive connections, each making login after login for
 * --duration s. Per side: logins/s, p50/p99 of a whole login, CPU ms per login (the server's
 * utime + stime, /proc), errors (must be 0), WeChat calls per login (the emulator's count).
 */

const CALLBACK_URL = '/dashboard';
const AUTHORIZE = `query ($r: String!) { wechatWebAuthorizeUrl(redirectUri: $r) { url state } }`;
const SIDES = ['ours', 'better-auth'] as const;
type Side = (typeof SIDES)[number];

/** Codes of the website app for `keys`, one each (minted by the emulator). */
type Codes = (keys: string[]) => Promise<string[]>;

/** One complete login on a side: when its first step was answered; throws if a step's answer is not a success. */
type Login = (pool: Pool, code: string) => Promise<number>;

interface RunFigures {
  logins: number;
  loginsPerSecond: number;
  p50: number;
  p99: number;
  /** p50 of each step alone. */
  step1p50: number;
  step2p50: number;
  errors: number;
  cpuMsPerLogin: number;
  /** Per login started, by WeChat path. */
  wechatCalls: Record<string, number>;
}

const ours: Login = async (pool, code) => {
  const gql = async (query: string, variables: object) => {
    const response = await pool.request({
      method: 'POST',
      path: '/graphql',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.body.json()) as {
      data?: Record<string, Record<string, unknown>>;
      errors?: unknown;
    };
    if (response.statusCode !== 200 || body.errors) throw new Error(`ours: ${JSON.stringify(body)}`);
    return body.data!;
  };
  const { wechatWebAuthorizeUrl } = await gql(AUTHORIZE, { r: REDIRECT });
  const state = wechatWebAuthorizeUrl!.state as string;
  const stepped = performance.now();
  const { wechatWebLogin } = await gql(QUERIES.web, { input: { code, state, redirectUri: REDIRECT } });
  if (!wechatWebLogin!.accessToken) throw new Error('ours: no access token');
  return stepped;
};

/** better-auth's login, from the page at `origin` (its own: the docs' same-origin setup). */
const betterAuth =
  (origin: string): Login =>
  async (pool, code) => {
    const signIn = await pool.request({
      method: 'POST',
      path: '/api/auth/sign-in/social',
      headers: { 'content-type': 'application/json', origin },
      body: JSON.stringify({ provider: 'wechat', callbackURL: CALLBACK_URL }),
    });
    const { url } = (await signIn.body.json()) as { url?: string };
    const cookie = cookiesOf(signIn.headers['set-cookie']).find((c) => c.startsWith('better-auth.state='));
    const state = url && new URL(url).searchParams.get('state');
    if (signIn.statusCode !== 200 || !state || !cookie)
      throw new Error(`better-auth sign-in: ${signIn.statusCode}`);
    const stepped = performance.now();
    const callback = await pool.request({
      method: 'GET',
      path: `/api/auth/callback/wechat?${new URLSearchParams({ code, state })}`,
      headers: { cookie },
    });
    await callback.body.dump();
    const session = cookiesOf(callback.headers['set-cookie']).some((c) =>
      /^better-auth\.session_token=[^;]+/.test(c),
    );
    if (callback.statusCode !== 302 || callback.headers.location !== CALLBACK_URL || !session) {
      throw new Error(`better-auth callback: ${callback.statusCode} ${String(callback.headers.location)}`);
    }
    return stepped;
  };

/** The name=value pairs of Set-Cookie headers. */
const cookiesOf = (header: string | string[] | undefined): string[] =>
  (Array.isArray(header) ? header : header ? [header] : []).map((line) => line.split(';')[0]!);

async function emulatorCalls(emulatorUrl: string): Promise<Record<string, number>> {
  const stats = (await (await fetch(`${emulatorUrl}/__emulator/stats`)).json()) as {
    calls: Record<string, number>;
  };
  return stats.calls;
}

/** Every user's first login on one side (their sign-up), 50 at a time. */
async function signUp(server: Server, login: Login, users: string[], codes: Codes): Promise<void> {
  const pool = new Pool(server.url, { connections: 50 });
  const list = await codes(users);
  for (let i = 0; i < list.length; i += 50)
    await Promise.all(list.slice(i, i + 50).map((c) => login(pool, c)));
  await pool.close();
}

/** --connections clients making login after login for `seconds`, returning users round robin. */
async function run(
  options: BenchOptions,
  emulatorUrl: string,
  server: Server,
  login: Login,
  users: string[],
  codes: Codes,
  seconds: number,
): Promise<RunFigures> {
  // More codes than this machine can use in a run; running out would be an error, not a reuse.
  const list = await codes(Array.from({ length: seconds * 3000 }, (_, i) => users[i % users.length]!));
  let next = 0;
  const pool = new Pool(server.url, { connections: options.connections });
  const latencies: number[] = [];
  const steps: [number[], number[]] = [[], []];
  let errors = 0;
  let firstError: unknown;
  const callsBefore = await emulatorCalls(emulatorUrl);
  const before = usage(server.pid);
  const started = performance.now();
  const end = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: options.connections }, async () => {
      while (performance.now() < end) {
        const code = list[next++];
        if (code === undefined) throw new Error('the run used up its codes');
        const t0 = performance.now();
        try {
          const stepped = await login(pool, code);
          const t = performance.now();
          latencies.push(t - t0);
          steps[0].push(stepped - t0);
          steps[1].push(t - stepped);
        } catch (error) {
          errors += 1;
          firstError ??= error;
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const after = usage(server.pid);
  const callsAfter = await emulatorCalls(emulatorUrl);
  await pool.close();
  if (firstError) process.stderr.write(`${server.url}: ${errors} errors, the first: ${String(firstError)}\n`);
  for (const list of [latencies, ...steps]) list.sort((a, b) => a - b);
  return {
    logins: latencies.length,
    loginsPerSecond: latencies.length / elapsed,
    p50: percentile(latencies, 0.5) ?? 0,
    p99: percentile(latencies, 0.99) ?? 0,
    step1p50: percentile(steps[0], 0.5) ?? 0,
    step2p50: percentile(steps[1], 0.5) ?? 0,
    errors,
    cpuMsPerLogin: ((after.cpu - before.cpu) * 1000) / Math.max(1, latencies.length),
    wechatCalls: Object.fromEntries(
      Object.entries(callsAfter).map(([path, n]) => [
        path,
        (n - (callsBefore[path] ?? 0)) / Math.max(1, next),
      ]),
    ),
  };
}

/** better-auth's server (bench/peer/better-auth-server.ts) on a database of its own. */
async function startBetterAuth(dbUrl: string, emulatorUrl: string): Promise<Server> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = await start(
    'better-auth',
    ['--import', '@swc-node/register/esm-register', 'bench/peer/better-auth-server.ts'],
    {
      // As ours runs.
      NODE_ENV: 'production',
      PORT: String(port),
      DATABASE_URL: dbUrl,
      AUTH_SECRET,
      WEB_APPID: APPS.web.appid,
      WEB_SECRET: APPS.web.secret,
      WECHAT_BASE_URL: emulatorUrl,
    },
    `${url}/api/auth/ok`,
  );
  return { url, pid: child.pid! };
}

const mean = (
  runs: RunFigures[],
  key: 'loginsPerSecond' | 'p50' | 'p99' | 'step1p50' | 'step2p50' | 'cpuMsPerLogin',
) => runs.reduce((sum, r) => sum + r[key], 0) / runs.length;

export async function measurePeer(
  options: BenchOptions,
  dbUrl: string,
  out: (line: string) => void,
): Promise<void> {
  const version = (
    JSON.parse(readFileSync('node_modules/better-auth/package.json', 'utf8')) as { version: string }
  ).version;
  const emulatorUrl = await startEmulator();
  await setWechatLatency(emulatorUrl, options.wechatLatency);
  const peerDatabase = await createDatabase();
  try {
    const servers: Record<Side, Server> = {
      ours: await startOurs(options, dbUrl, emulatorUrl),
      'better-auth': await startBetterAuth(peerDatabase.url, emulatorUrl),
    };
    const logins: Record<Side, Login> = { ours, 'better-auth': betterAuth(servers['better-auth'].url) };
    const users = Array.from({ length: options.users }, (_, i) => `peer${i}`);
    const codes: Codes = async (keys) =>
      (
        await post<{ codes: string[] }>(`${emulatorUrl}/__emulator/codes/batch`, {
          appid: APPS.web.appid,
          users: keys,
        })
      ).codes;

    // Sign-ups, then a second of returning logins on each (JIT, pools, connections), not counted.
    for (const side of SIDES) await signUp(servers[side], logins[side], users, codes);
    for (const side of SIDES) await run(options, emulatorUrl, servers[side], logins[side], users, codes, 1);

    const runs: Record<Side, RunFigures[]> = { ours: [], 'better-auth': [] };
    for (let round = 0; round < options.rounds; round++) {
      for (const side of SIDES) {
        runs[side].push(
          await run(options, emulatorUrl, servers[side], logins[side], users, codes, options.duration),
        );
      }
    }

    const names: Record<Side, string> = { ours: 'ours', 'better-auth': `better-auth ${version}` };
    out(
      `Website QR login, both steps, ours against better-auth ${version} (its WeChat provider as its docs say): ` +
        `${options.users} returning users, ${options.connections} clients back to back, ` +
        `WeChat latency ${options.wechatLatency} ms, ${options.duration} s per run, ` +
        `${options.rounds} interleaved rounds (means), rate limits off`,
    );
    out(
      '| side | logins/s | p50 ms | p99 ms | step 1 / step 2 p50 ms | CPU ms per login | errors | WeChat calls per login | logins/s per round |',
    );
    out('|---|---|---|---|---|---|---|---|---|');
    let errors = 0;
    for (const side of SIDES) {
      const r = runs[side];
      const sideErrors = r.reduce((sum, f) => sum + f.errors, 0);
      errors += sideErrors;
      const calls = Object.entries(r.at(-1)!.wechatCalls)
        .filter(([, n]) => n > 0)
        .map(([path, n]) => `${n.toFixed(2)} ${path}`)
        .join(', ');
      out(
        `| ${names[side]} | ${mean(r, 'loginsPerSecond').toFixed(0)} | ${mean(r, 'p50').toFixed(1)} | ` +
          `${mean(r, 'p99').toFixed(1)} | ${mean(r, 'step1p50').toFixed(1)} / ${mean(r, 'step2p50').toFixed(1)} | ` +
          `${mean(r, 'cpuMsPerLogin').toFixed(2)} | ${sideErrors} | ${calls} | ` +
          `${r.map((f) => f.loginsPerSecond.toFixed(0)).join(', ')} |`,
      );
    }
    const ratio = mean(runs.ours, 'loginsPerSecond') / mean(runs['better-auth'], 'loginsPerSecond');
    out(
      `\nratio ours / better-auth, logins/s: ${ratio.toFixed(2)} (target: 4 or more); ` +
        `CPU per login: ${(mean(runs['better-auth'], 'cpuMsPerLogin') / mean(runs.ours, 'cpuMsPerLogin')).toFixed(2)}× less for ours`,
    );
    out(
      `peak RSS (VmHWM): ours ${usage(servers.ours.pid).peakRssMiB} MiB, ` +
        `better-auth ${usage(servers['better-auth'].pid).peakRssMiB} MiB`,
    );
    out(errors === 0 ? 'errors: 0' : `errors: ${errors} (must be 0)`);
    if (errors !== 0) process.exitCode = 1;
  } finally {
    await stopProcesses();
    await peerDatabase.drop();
  }
}
