import WebSocket from 'ws';
import { createClient, type Client as WsClient } from 'graphql-ws';
import type { BenchOptions } from './options.js';
import { APPS, post, startEmulator, startOurs, type Server } from './processes.js';

/**
 * `npm run bench -- --tickets`: login tickets on two instances of our server on one database.
 * - Confirm-to-page latency: a page subscribed (graphql-ws) on instance A; the person confirms on
 *   A (same instance) or on B (the other: the wake-up goes through PostgreSQL's NOTIFY and A's
 *   LISTEN connection); from sending confirmLoginTicket to the page holding the session.
 * - WeChat calls per ticket: what the emulator saw while the tickets were made.
 * - Memory per 1,000 open subscriptions: instance A's resident memory and V8 heap (its /metrics)
 *   before and after 1,000 pages subscribe and wait (100 sockets of 10, from three loopback
 *   addresses: one address may hold 50 sockets).
 */
const TICKETS = Number(process.env.BENCH_TICKETS ?? 200);
const OPEN = 1000;

export const gql = async <T>(
  server: Server,
  query: string,
  variables: object,
  token?: string,
): Promise<T> => {
  const body = await post<{ data?: T; errors?: { message: string }[] }>(
    `${server.url}/graphql`,
    { query, variables },
    token ? { authorization: `Bearer ${token}` } : {},
  );
  if (body.errors) throw new Error(body.errors[0]!.message);
  return body.data!;
};

const CREATE = `mutation { createLoginTicket(kind: MINI_PROGRAM_CODE) { id secret scene } }`;
const WATCH = `subscription ($id: ID!, $secret: String!) { loginTicket(id: $id, secret: $secret) { state auth { accessToken } } }`;

export function socketOf(server: Server, localAddress = '127.0.0.1'): WsClient {
  return createClient({
    url: `${server.url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: class extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { localAddress });
      }
    },
    lazy: false,
    retryAttempts: 0,
    keepAlive: 0,
  });
}

/** Subscribes and calls `onState` with each state; resolves the returned promise at the session. */
export function follow(
  ws: WsClient,
  ticket: { id: string; secret: string },
  onState: (state: string) => void,
) {
  return new Promise<void>((resolve, reject) => {
    ws.subscribe<{ loginTicket: { state: string; auth: unknown } }>(
      { query: WATCH, variables: { id: ticket.id, secret: ticket.secret } },
      {
        next: ({ data, errors }) => {
          if (errors) reject(new Error(errors[0]!.message));
          onState(data!.loginTicket.state);
          if (data!.loginTicket.auth) resolve();
        },
        error: reject,
        complete: () => {},
      },
    );
  });
}

export const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

/** The person opens the code on their phone and signs in to the mini program on `server`. */
async function phone(emulatorUrl: string, server: Server, scene: string, person: string): Promise<string> {
  const { code } = await post<{ code: string }>(`${emulatorUrl}/__emulator/scan`, {
    appid: APPS.mini.appid,
    scene,
    user: person,
  });
  const login = await gql<{ wechatMiniLogin: { accessToken: string } }>(
    server,
    `mutation ($code: String!) { wechatMiniLogin(input: { code: $code }) { accessToken } }`,
    { code },
  );
  const token = login.wechatMiniLogin.accessToken;
  await gql(
    server,
    `mutation ($s: String!) { scanLoginTicket(scene: $s) { ticketId } }`,
    { s: scene },
    token,
  );
  return token;
}

async function latencies(emulatorUrl: string, holder: Server, confirmer: Server): Promise<number[]> {
  const ws = socketOf(holder);
  const samples: number[] = [];
  for (let i = 0; i < TICKETS; i++) {
    const { createLoginTicket: ticket } = await gql<{
      createLoginTicket: { id: string; secret: string; scene: string };
    }>(holder, CREATE, {});
    let scanned!: () => void;
    const seenScan = new Promise<void>((resolve) => (scanned = resolve));
    const signedIn = follow(ws, ticket, (state) => state === 'SCANNED' && scanned());
    const token = await phone(emulatorUrl, confirmer, ticket.scene, `bench-ticket-${i % 50}`);
    await seenScan;
    const started = performance.now();
    await gql(
      confirmer,
      `mutation ($s: String!) { confirmLoginTicket(scene: $s) }`,
      { s: ticket.scene },
      token,
    );
    await signedIn;
    samples.push(performance.now() - started);
  }
  await ws.dispose();
  return samples.sort((a, b) => a - b);
}

/** The server's memory after a full collection (it runs under bench/gc-probe.mjs). */
function memoryOf(server: Server): Promise<NodeJS.MemoryUsage> {
  return new Promise((resolve) => {
    server.child!.once('message', (usage) => resolve(usage as NodeJS.MemoryUsage));
    server.child!.send('measure');
  });
}

export async function measureTickets(
  options: BenchOptions,
  dbUrl: string,
  out: (line: string) => void,
): Promise<void> {
  const emulatorUrl = await startEmulator();
  const a = await startOurs(options, dbUrl, emulatorUrl, true);
  const b = await startOurs(options, dbUrl, emulatorUrl);
  // Warm both instances (their LISTEN, the app token, the code paths).
  await latencies(emulatorUrl, a, b);

  const before = (await (await fetch(`${emulatorUrl}/__emulator/requests`)).json()) as {
    requests: { path: string }[];
  };
  const same = await latencies(emulatorUrl, a, a);
  const other = await latencies(emulatorUrl, a, b);
  const after = (await (await fetch(`${emulatorUrl}/__emulator/requests`)).json()) as {
    requests: { path: string }[];
  };
  const made = after.requests.slice(before.requests.length).map((r) => r.path);
  const count = (path: string) => made.filter((p) => p === path).length / (2 * TICKETS);

  // Memory: 1,000 pages subscribed and waiting on A.
  const idle = await memoryOf(a);
  const sockets = Array.from({ length: OPEN / 10 }, (_, i) => socketOf(a, `127.0.0.${1 + (i % 3)}`));
  await Promise.all(sockets.map((s) => new Promise((resolve) => s.on('connected', resolve))));
  const connected = await memoryOf(a);
  const waiting: Promise<void>[] = [];
  for (let i = 0; i < OPEN; i++) {
    const { createLoginTicket: ticket } = await gql<{ createLoginTicket: { id: string; secret: string } }>(
      a,
      CREATE,
      {},
    );
    let seen!: () => void;
    waiting.push(new Promise<void>((resolve) => (seen = resolve)));
    void follow(sockets[Math.floor(i / 10)]!, ticket, () => seen()).catch(() => {});
  }
  await Promise.all(waiting);
  const open = await memoryOf(a);
  await Promise.all(sockets.map((s) => s.dispose()));

  const ms = (n: number) => `${n.toFixed(1)} ms`;
  const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  out(`Login tickets (${TICKETS} tickets each way; two instances of our server on one database):`);
  out('| confirmed on | p50 | p90 | p99 | max |');
  out('|---|---|---|---|---|');
  for (const [name, s] of [
    ['the same instance', same],
    ['the other instance (NOTIFY → LISTEN)', other],
  ] as const) {
    out(
      `| ${name} | ${ms(percentile(s, 0.5))} | ${ms(percentile(s, 0.9))} | ${ms(percentile(s, 0.99))} | ${ms(s.at(-1)!)} |`,
    );
  }
  out(
    `\nWeChat calls per ticket: ${count('/wxa/getwxacodeunlimit')} getwxacodeunlimit, ` +
      `${count('/cgi-bin/stable_token')} stable_token`,
  );
  out(
    `V8 heap used on one instance, after a full GC: ${mib(idle.heapUsed)} idle; ${mib(connected.heapUsed)} ` +
      `with ${OPEN / 10} sockets open (${kib((connected.heapUsed - idle.heapUsed) / (OPEN / 10))} each); ` +
      `${mib(open.heapUsed)} with ${OPEN} subscriptions waiting on them ` +
      `(${kib((open.heapUsed - connected.heapUsed) / OPEN)} each). Resident: ${mib(idle.rss)}, ` +
      `${mib(connected.rss)}, ${mib(open.rss)}`,
  );
}
