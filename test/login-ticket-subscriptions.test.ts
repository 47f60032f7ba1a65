import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import WebSocket from 'ws';
import { bearer, clientOf, type Client } from './support/client.js';
import { socketUrl, watchTicket, wsClient } from './support/subscriptions.js';
import { APPS, startWorld, type World } from './support/world.js';

let w: World;
let c: Client;

beforeAll(async () => {
  w = await startWorld({ env: { RATE_LIMIT: 'off' } });
  c = clientOf(w);
});
afterAll(async () => {
  await w?.stop();
});

async function createTicket() {
  const answer = await c.run('CreateLoginTicket', { kind: 'MINI_PROGRAM_CODE' });
  expect(answer.errors).toBeUndefined();
  return answer.data!.createLoginTicket;
}

/** The mini program page the code opened, signed in as `person`. */
async function phoneOf(client: Client, scene: string, person: string) {
  const { code } = await w.emulatorPost<{ code: string }>('/__emulator/scan', {
    appid: APPS.mini.appid,
    scene,
    user: person,
  });
  const login = await client.run('WechatMiniLogin', { input: { code } });
  const as = bearer(login.data!.wechatMiniLogin.accessToken);
  return {
    userId: login.data!.wechatMiniLogin.user.id,
    scan: () => client.run('ScanLoginTicket', { scene }, as),
    confirm: () => client.run('ConfirmLoginTicket', { scene }, as),
    cancel: () => client.run('CancelLoginTicket', { scene }, as),
  };
}

/** The answer to a WebSocket upgrade of /graphql with these headers: the HTTP status, or 101. */
function upgradeStatus(headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(socketUrl(w.t.url), 'graphql-transport-ws', { headers });
    socket.on('open', () => {
      socket.close();
      resolve(101);
    });
    socket.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
    socket.on('error', reject);
  });
}

describe('the loginTicket subscription (graphql-ws on /graphql)', () => {
  it('tells the waiting page every change, and hands it the session with CONFIRMED', async () => {
    const ticket = await createTicket();
    const watch = watchTicket(wsClient(w.t.url), ticket.id, ticket.secret);
    await watch.received(1);
    expect(watch.statuses[0]).toEqual({ state: 'WAITING', auth: null });
    const phone = await phoneOf(c, ticket.scene, 'alice');
    await phone.scan();
    await watch.received(2);
    expect(watch.statuses[1]).toEqual({ state: 'SCANNED', auth: null });
    await phone.confirm();
    expect(await watch.ended).toEqual({ codes: [] });
    expect(watch.statuses).toHaveLength(3);
    expect(watch.statuses[2]!.state).toBe('CONFIRMED');
    expect(watch.statuses[2]!.auth!.user.id).toBe(phone.userId);
    expect((await c.me(watch.statuses[2]!.auth!.accessToken)).data!.me!.id).toBe(phone.userId);
    // The handover happened once: polling now gets no session.
    const polled = await c.run('LoginTicket', { id: ticket.id, secret: ticket.secret });
    expect(polled.data!.loginTicket).toEqual({ state: 'CONFIRMED', auth: null });
    await watch.close();
  });

  it('hands the session over as a login answers it: the user’s login methods too', async () => {
    const ticket = await createTicket();
    const client = wsClient(w.t.url);
    type Result = { data?: { loginTicket: { state: string; auth: unknown } }; errors?: unknown[] };
    const results: Result[] = [];
    let first: () => void = () => {};
    const subscribed = new Promise<void>((resolve) => (first = resolve));
    const ended = new Promise<void>((resolve, reject) => {
      client.subscribe<Result['data']>(
        {
          query: `subscription ($id: ID!, $secret: String!) { loginTicket(id: $id, secret: $secret) {
            state auth { accessToken user { id nickname loginMethods { kind appId } } } } }`,
          variables: { id: ticket.id, secret: ticket.secret },
        },
        { next: (result) => (results.push(result as Result), first()), error: reject, complete: resolve },
      );
    });
    await subscribed;
    const phone = await phoneOf(c, ticket.scene, 'grace');
    await phone.scan();
    await phone.confirm();
    await ended;
    await client.dispose();
    const last = results.at(-1)!;
    expect(last.errors).toBeUndefined();
    expect(last.data!.loginTicket).toEqual({
      state: 'CONFIRMED',
      auth: {
        accessToken: expect.any(String),
        user: {
          id: phone.userId,
          nickname: null,
          loginMethods: [{ kind: 'WECHAT_MINI', appId: APPS.mini.appid }],
        },
      },
    });
  });

  it('ends with CANCELLED when the person declines', async () => {
    const ticket = await createTicket();
    const watch = watchTicket(wsClient(w.t.url), ticket.id, ticket.secret);
    const phone = await phoneOf(c, ticket.scene, 'bob');
    await phone.scan();
    await phone.cancel();
    expect(await watch.ended).toEqual({ codes: [] });
    expect(watch.statuses.at(-1)).toEqual({ state: 'CANCELLED', auth: null });
    await watch.close();
  });

  it('ends with EXPIRED at the ticket’s time', async () => {
    const ticket = await createTicket();
    await c.sql(`update login_ticket set expires_at = now() + interval '1 second' where id = ?`, [ticket.id]);
    const watch = watchTicket(wsClient(w.t.url), ticket.id, ticket.secret);
    expect(await watch.ended).toEqual({ codes: [] });
    expect(watch.statuses.map((s) => s.state)).toEqual(['WAITING', 'EXPIRED']);
    await watch.close();
  });

  it('gives the session to the poll when it asks first, and then the subscription gets none', async () => {
    const ticket = await createTicket();
    const watch = watchTicket(wsClient(w.t.url), ticket.id, ticket.secret);
    await watch.received(1);
    const phone = await phoneOf(c, ticket.scene, 'carol');
    await phone.scan();
    await watch.received(2);
    // The poll and the wake-up race: exactly one of them carries the session.
    const [, polled] = await Promise.all([
      phone.confirm(),
      c.run('LoginTicket', { id: ticket.id, secret: ticket.secret }),
    ]);
    await watch.ended;
    const sessions = [polled.data!.loginTicket, watch.statuses.at(-1)!].filter((s) => s.auth !== null);
    expect(sessions).toHaveLength(1);
    expect((await c.userRow(phone.userId)).openSessions).toBe(2);
    await watch.close();
  });

  it('ends a subscription with a wrong secret or an unknown id with TICKET_NOT_FOUND', async () => {
    const ticket = await createTicket();
    for (const [id, secret] of [
      [ticket.id, 'lts_wrong'],
      ['00000000-0000-4000-8000-000000000000', ticket.secret],
      ['nonsense', ''],
    ] as const) {
      const watch = watchTicket(wsClient(w.t.url), id, secret);
      expect(await watch.ended).toEqual({ codes: ['TICKET_NOT_FOUND'] });
      expect(watch.statuses).toEqual([]);
      await watch.close();
    }
  });

  it('refuses queries and mutations over the socket, and documents over the limits', async () => {
    const client = wsClient(w.t.url);
    const outcome = (query: string) =>
      new Promise<string[]>((resolve) => {
        client.subscribe(
          { query },
          {
            next: (r) => resolve((r.errors ?? []).map((e) => e.message)),
            error: (e) =>
              resolve(Array.isArray(e) ? e.map((x: { message: string }) => x.message) : [String(e)]),
            complete: () => resolve([]),
          },
        );
      });
    expect((await outcome('{ me { id } }'))[0]).toMatch(/Only subscriptions/);
    expect((await outcome('mutation { createLoginTicket(kind: MINI_PROGRAM_CODE) { id } }'))[0]).toMatch(
      /Only subscriptions/,
    );
    const deep = `subscription { loginTicket(id: "x", secret: "y") { auth { user { loginMethods { kind } } } } ${'a: __typename '.repeat(3000)} }`;
    expect((await outcome(deep)).length).toBeGreaterThan(0);
    expect(await c.sql('select count(*)::int as n from login_ticket where false')).toEqual([{ n: 0 }]);
    await client.dispose();
  });

  it('checks the browser’s Origin before upgrading, as CORS does', async () => {
    expect(await upgradeStatus({ origin: 'https://evil.example' })).toBe(403);
    expect(await upgradeStatus({ origin: 'http://localhost:3000' })).toBe(101);
    expect(await upgradeStatus({})).toBe(101);
  });
});
