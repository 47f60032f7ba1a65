import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { bearer, clientOf, type Client } from './support/client.js';
import { errorCode } from './support/graphql.js';
import { pendingTimers, rawSocket, TICKET_SUBSCRIPTION } from './support/raw-socket.js';
import { startTestServer, type TestServer } from './support/server.js';
import { sqlOf } from './support/sql.js';
import { watchTicket, wsClient } from './support/subscriptions.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';
import { APPS, startWorld, type World } from './support/world.js';

/** What a script can send down /graphql's WebSocket, and what it costs the server (found in review). */
let w: World;
let c: Client;

beforeAll(async () => {
  w = await startWorld({ env: { RATE_LIMIT: 'off' } });
  c = clientOf(w);
});
afterAll(async () => {
  await w?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const LOG_MARK = 'unexpected error in a GraphQL operation';

async function createTicket() {
  const answer = await c.run('CreateLoginTicket', { kind: 'MINI_PROGRAM_CODE' });
  expect(answer.errors).toBeUndefined();
  return answer.data!.createLoginTicket;
}

/** Ten subscribes under one id, a complete between each, written in one go. */
function reusedIdFrames(id: string, secret: string) {
  const subscribe = {
    id: 'a',
    type: 'subscribe',
    payload: { query: TICKET_SUBSCRIPTION, variables: { id, secret } },
  };
  const frames: unknown[] = [];
  for (let i = 0; i < 9; i++) frames.push(subscribe, { id: 'a', type: 'complete' });
  frames.push(subscribe);
  return frames;
}

/** The first error or next message's errors that one subscribe gets. */
async function answerTo(url: string, payload: Record<string, unknown>) {
  const socket = await rawSocket(url);
  socket.send({ id: '1', type: 'subscribe', payload });
  await socket.until((m) => m.some((x) => x.id === '1' && (x.type === 'error' || x.type === 'next')));
  const message = socket.messages.find((x) => x.id === '1' && (x.type === 'error' || x.type === 'next'))!;
  socket.ws.close();
  return (message.type === 'error' ? message.payload : message.payload.errors) as {
    message: string;
    extensions?: { code?: string };
  }[];
}

describe('subscriptions end with their socket', () => {
  it('leaves nothing running after sockets that reused one id vanish', async () => {
    const ticket = await createTicket();
    await sleep(200);
    const before = pendingTimers();
    for (let s = 0; s < 30; s++) {
      const socket = await rawSocket(w.t.url);
      socket.sendAll(reusedIdFrames(ticket.id, ticket.secret));
      await socket.until((m) => m.filter((x) => x.type === 'next').length >= 10);
      socket.kill();
      await socket.closed;
    }
    await sleep(500);
    expect(pendingTimers() - before).toBeLessThan(5);
  });

  it('keeps the session for the page: no stream of a closed socket takes it', async () => {
    const ticket = await createTicket();
    const socket = await rawSocket(w.t.url);
    socket.sendAll(reusedIdFrames(ticket.id, ticket.secret));
    await socket.until((m) => m.filter((x) => x.type === 'next').length >= 10);
    socket.kill();
    await socket.closed;
    await sleep(200);
    const { code } = await w.emulatorPost<{ code: string }>('/__emulator/scan', {
      appid: APPS.mini.appid,
      scene: ticket.scene,
      user: 'kate',
    });
    const login = await c.run('WechatMiniLogin', { input: { code } });
    const as = bearer(login.data!.wechatMiniLogin.accessToken);
    await c.run('ScanLoginTicket', { scene: ticket.scene }, as);
    await c.run('ConfirmLoginTicket', { scene: ticket.scene }, as);
    await sleep(300);
    const polled = await c.run('LoginTicket', { id: ticket.id, secret: ticket.secret });
    expect(polled.data!.loginTicket.auth!.user.id).toBe(login.data!.wechatMiniLogin.user.id);
  });

  it('runs at most 10 streams on one socket, however they were started', async () => {
    const ticket = await createTicket();
    const socket = await rawSocket(w.t.url);
    socket.sendAll(
      Array.from({ length: 12 }, (_, i) => ({
        id: `s${i}`,
        type: 'subscribe',
        payload: { query: TICKET_SUBSCRIPTION, variables: { id: ticket.id, secret: ticket.secret } },
      })),
    );
    await socket.until((m) => m.filter((x) => x.type === 'next' || x.type === 'error').length >= 12);
    const refused = socket.messages.filter(
      (x) =>
        (x.type === 'error' && x.payload[0]?.extensions?.code === 'RATE_LIMITED') ||
        (x.type === 'next' && x.payload.errors?.[0]?.extensions?.code === 'RATE_LIMITED'),
    );
    expect(refused).toHaveLength(2);
    socket.ws.close();
  });
});

describe('a bad subscribe message is the client’s error, answered and not logged', () => {
  it('answers variables of the wrong type or missing with BAD_USER_INPUT, without a log line', async () => {
    const marker = `attacker-${'X'.repeat(30_000)}`;
    const before = w.t.log.text().split(LOG_MARK).length;
    const wrong = await answerTo(w.t.url, {
      query: TICKET_SUBSCRIPTION,
      variables: { id: { [marker]: 1 }, secret: 'y' },
    });
    const missing = await answerTo(w.t.url, { query: TICKET_SUBSCRIPTION, variables: {} });
    expect(wrong.map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']);
    expect(missing.map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT', 'BAD_USER_INPUT']);
    const twoOperations = await answerTo(w.t.url, {
      query: `subscription A { loginTicket(id: "x", secret: "y") { state } }
              subscription B { loginTicket(id: "x", secret: "y") { state } }`,
    });
    expect(twoOperations.map((e) => e.extensions?.code)).toEqual(['BAD_REQUEST']);
    expect(w.t.log.text().split(LOG_MARK).length).toBe(before);
    expect(w.t.log.text()).not.toContain(marker);
  });

  it('closes a socket that sends messages faster than a page ever would', async () => {
    const socket = await rawSocket(w.t.url);
    socket.sendAll(
      Array.from({ length: 100 }, (_, i) => ({
        id: String(i),
        type: 'subscribe',
        payload: { query: TICKET_SUBSCRIPTION, variables: {} },
      })),
    );
    expect(await socket.closed).toBe(4429);
  });
});

describe('in production', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({
      NODE_ENV: 'production',
      AUTH_SECRET: 'p'.repeat(40),
      WECHAT_MINI_APPID: 'wxprod',
      WECHAT_MINI_SECRET: 'prod-secret',
    });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('tells nothing of the schema over the socket either (no "Did you mean")', async () => {
    const errors = await answerTo(t.url, {
      query:
        'subscription { loginTicket(id: "x", secret: "y") { stat auth { accessTok user { loginMethod } } } }',
    });
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.map((e) => e.message).join('\n')).not.toMatch(/Did you mean/);
    expect(errors.every((e) => e.extensions?.code === 'GRAPHQL_VALIDATION_FAILED')).toBe(true);
  });
});

describe('URL Links spend WeChat’s daily quota', () => {
  let limited: World;
  beforeAll(async () => {
    limited = await startWorld({
      env: { LOGIN_TICKET_LINKS_PER_DAY: '12', TRUST_PROXY: 'loopback' },
    });
  });
  afterAll(async () => {
    await limited?.stop();
  });

  it('makes few per client and at most LOGIN_TICKET_LINKS_PER_DAY per mini program; codes and phones go on', async () => {
    const client = clientOf(limited);
    const link = () => client.run('CreateLoginTicket', { kind: 'MINI_PROGRAM_LINK' });
    for (let i = 0; i < 10; i++) expect((await link()).errors).toBeUndefined();
    // An 11th from this client this minute.
    expect(errorCode(await link())).toBe('RATE_LIMITED');
    // From two other clients: the app's day budget (12) ends after two more.
    const other = (ip: string) =>
      client.run('CreateLoginTicket', { kind: 'MINI_PROGRAM_LINK' }, { 'x-forwarded-for': ip });
    expect((await other('198.51.100.7')).errors).toBeUndefined();
    expect((await other('198.51.100.8')).errors).toBeUndefined();
    expect(errorCode(await other('198.51.100.9'))).toBe('RATE_LIMITED');
    // Codes are unlimited with WeChat: still made; and a phone scans as before.
    const code = await client.run('CreateLoginTicket', { kind: 'MINI_PROGRAM_CODE' });
    expect(code.errors).toBeUndefined();
    const phone = await client.loginAs('mini', 'leo');
    const scanned = await client.run(
      'ScanLoginTicket',
      { scene: code.data!.createLoginTicket.scene },
      bearer(phone.accessToken),
    );
    expect(scanned.errors).toBeUndefined();
  });
});

describe('a waiting subscription while the database is away', () => {
  let t: TestServer;
  let proxy: TcpProxy;
  beforeAll(async () => {
    t = await startTestServer(
      {},
      {
        through: async (url) => {
          proxy = await startTcpProxy(url);
          return proxy.url;
        },
      },
    );
  });
  afterAll(async () => {
    proxy?.restore();
    await t?.stop();
    await proxy?.close();
  });

  /** Connections the server tried to open to the database during `ms`. */
  async function attemptsDuring(ms: number): Promise<number> {
    const before = proxy.accepted;
    await sleep(ms);
    return proxy.accepted - before;
  }

  it('reads again later and later, also past its ticket’s end, never in a loop', async () => {
    const id = randomUUID();
    const secret = `lts_${randomUUID()}`;
    await sqlOf(t)(
      `insert into login_ticket (id, kind, app_id, scene, secret_hash, state, created_at, expires_at)
       values (?, 'MINI_PROGRAM_CODE', 'wxany', ?, ?, 'WAITING', now(), now() + interval '3 seconds')`,
      [id, randomUUID().replace(/-/g, ''), createHash('sha256').update(secret).digest('base64url')],
    );
    const watch = watchTicket(wsClient(t.url), id, secret);
    await Promise.race([watch.received(1), watch.ended]);
    expect(watch.statuses[0]!.state).toBe('WAITING');
    proxy.refuse();
    const beforeEnd = await attemptsDuring(1500);
    await sleep(2000); // the ticket's time passes
    const afterEnd = await attemptsDuring(3000);
    proxy.restore();
    // Once the database is back, the page hears that its ticket has expired.
    await watch.ended;
    expect(watch.statuses.at(-1)!.state).toBe('EXPIRED');
    await watch.close();
    expect(beforeEnd).toBeLessThan(10);
    expect(afterEnd).toBeLessThan(10);
  });
});
