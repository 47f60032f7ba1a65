import type { BenchOptions } from './options.js';
import { APPS, freePort, post, startEmulator, startOurs, type Server } from './processes.js';
import { follow, gql, percentile, socketOf } from './tickets.js';

/**
 * `npm run bench -- --follow`: follow-login (an Official Account QR code) on two instances of our
 * server on one database, the account in safe mode, WeChat played by the emulator, which pushes
 * to instance B as WeChat would (signed, encrypted, retried after 5 s without an answer).
 * - Push-to-page latency: a page subscribed on B (the instance the push reaches) or A (the other:
 *   NOTIFY → LISTEN); from the scan (the emulator's POST /__emulator/scan, which pushes) to the
 *   page holding its session.
 * - WeChat calls per login: what the emulator saw while those logins ran.
 * - A burst: BURST tickets waiting, then BURST people follow at once; how long the endpoint takes
 *   to answer each push (as the emulator, WeChat's stand-in, waits for it), how many were retried,
 *   and whether every ticket was confirmed.
 */
const FOLLOWS = Number(process.env.BENCH_FOLLOWS ?? 200);
const BURST = Number(process.env.BENCH_BURST ?? 500);
const OA = APPS.official.appid;
const CREATE = `mutation { createLoginTicket(kind: OFFICIAL_ACCOUNT_QR) { id secret scene } }`;
const STATUS = `query ($id: ID!, $secret: String!) { loginTicket(id: $id, secret: $secret) { state } }`;

interface Ticket {
  id: string;
  secret: string;
  scene: string;
}

interface Scanned {
  event: string;
  delivered: boolean;
  attempts: number;
  reply: string | null;
}

const newTicket = async (server: Server) =>
  (await gql<{ createLoginTicket: Ticket }>(server, CREATE, {})).createLoginTicket;

/** `user` scans the account's QR code of `scene` in WeChat: the emulator pushes the event. */
const scan = (emulatorUrl: string, scene: string, user: string) =>
  post<Scanned>(`${emulatorUrl}/__emulator/scan`, { appid: OA, scene, user });

async function latencies(emulatorUrl: string, holder: Server, people: string): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < FOLLOWS; i++) {
    // A socket per page, as pages are: one socket's messages are limited (5 a second).
    const ws = socketOf(holder);
    const ticket = await newTicket(holder);
    let waiting!: () => void;
    const seenWaiting = new Promise<void>((resolve) => (waiting = resolve));
    const signedIn = follow(ws, ticket, (state) => state === 'WAITING' && waiting());
    await seenWaiting;
    const started = performance.now();
    // A hundred people: each follows once, then scans as a follower (SCAN), seconds apart (one
    // person's events within one second are one event to WeChat's key, the openid and CreateTime).
    const scanned = await scan(emulatorUrl, ticket.scene, `${people}-${i % 100}`);
    if (!scanned.delivered || scanned.reply !== '登录成功')
      throw new Error(`push not answered: ${JSON.stringify(scanned)}`);
    await signedIn;
    samples.push(performance.now() - started);
    await ws.dispose();
  }
  return samples.sort((a, b) => a - b);
}

/** BURST waiting tickets, BURST people following at once: each push's answer time at the sender. */
async function burst(emulatorUrl: string, a: Server, b: Server) {
  const tickets: Ticket[] = [];
  for (let i = 0; i < BURST; i += 25) {
    tickets.push(...(await Promise.all(Array.from({ length: Math.min(25, BURST - i) }, () => newTicket(a)))));
  }
  const started = performance.now();
  const answers = await Promise.all(
    tickets.map(async (ticket, i) => {
      const sent = performance.now();
      const scanned = await scan(emulatorUrl, ticket.scene, `bench-burst-${i}`);
      return { ms: performance.now() - sent, ...scanned };
    }),
  );
  const wallMs = performance.now() - started;
  const states = await Promise.all(
    tickets.map(async (ticket) => {
      const { loginTicket } = await gql<{ loginTicket: { state: string } }>(b, STATUS, {
        id: ticket.id,
        secret: ticket.secret,
      });
      return loginTicket.state;
    }),
  );
  return {
    ms: answers.map((a) => a.ms).sort((x, y) => x - y),
    wallMs,
    retried: answers.filter((a) => a.attempts > 1).length,
    undelivered: answers.filter((a) => !a.delivered).length,
    replied: answers.filter((a) => a.reply === '登录成功').length,
    confirmed: states.filter((state) => state === 'CONFIRMED').length,
  };
}

export async function measureFollow(
  options: BenchOptions,
  dbUrl: string,
  out: (line: string) => void,
): Promise<void> {
  const [aPort, bPort] = [await freePort(), await freePort()];
  const emulatorUrl = await startEmulator(`http://127.0.0.1:${bPort}/wechat/events/${OA}`);
  const a = await startOurs(options, dbUrl, emulatorUrl, false, aPort);
  const b = await startOurs(options, dbUrl, emulatorUrl, false, bPort);
  // Warm both instances (their LISTEN, the app token, the code paths).
  await latencies(emulatorUrl, a, 'bench-warm');

  const requests = async () =>
    ((await (await fetch(`${emulatorUrl}/__emulator/requests`)).json()) as { requests: { path: string }[] })
      .requests;
  const before = (await requests()).length;
  const same = await latencies(emulatorUrl, b, 'bench-same');
  const other = await latencies(emulatorUrl, a, 'bench-other');
  const made = (await requests()).slice(before).map((r) => r.path);
  const count = (path: string) => made.filter((p) => p === path).length / (2 * FOLLOWS);
  const spike = await burst(emulatorUrl, a, b);

  const ms = (n: number) => `${n.toFixed(1)} ms`;
  const row = (s: number[]) =>
    `${ms(percentile(s, 0.5))} | ${ms(percentile(s, 0.9))} | ${ms(percentile(s, 0.99))} | ${ms(s.at(-1)!)}`;
  out(`Follow-login (${FOLLOWS} logins each way; two instances on one database; safe mode; pushes reach B):`);
  out('| page waiting on | p50 | p90 | p99 | max |');
  out('|---|---|---|---|---|');
  out(`| B, the instance the push reaches | ${row(same)} |`);
  out(`| A, the other instance (NOTIFY → LISTEN) | ${row(other)} |`);
  out(
    `\nWeChat calls per login: ${count('/cgi-bin/qrcode/create')} qrcode/create, ` +
      `${count('/cgi-bin/user/info')} user/info, ${count('/cgi-bin/stable_token')} stable_token`,
  );
  out(
    `\nA burst of ${BURST} follows at once (one per waiting ticket), answered by B: ` +
      `p50 ${ms(percentile(spike.ms, 0.5))}, p90 ${ms(percentile(spike.ms, 0.9))}, ` +
      `p99 ${ms(percentile(spike.ms, 0.99))}, max ${ms(spike.ms.at(-1)!)}; all in ${ms(spike.wallMs)}. ` +
      `Retried by WeChat: ${spike.retried}; unanswered: ${spike.undelivered}; replied 登录成功: ${spike.replied}; ` +
      `tickets confirmed: ${spike.confirmed} of ${BURST}`,
  );
}
