import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { eventually } from './support/eventually.js';
import { bearer, type Client } from './support/client.js';
import { clientsOf, startInstances, type Instances } from './support/instances.js';
import { itOnServer } from './support/real-postgres.js';
import { sqlAt } from './support/sql.js';
import { watchTicket, wsClient } from './support/subscriptions.js';
import { eventXml, replyContent, sendPush, signPush, type PushAccount } from './support/pushes.js';
import { APPS } from './support/world.js';

/** The test official account, receiving pushes in plain mode. */
const OA: PushAccount = { appid: APPS.official.appid, token: 'instanceToken1' };

/** Two server processes on one database: the page waits on one, the person confirms on the other. */
let instances: Instances;
let clients: Client[] = [];

beforeAll(async () => {
  // One issuer for both, as behind a load balancer: each accepts the other's access tokens.
  instances = await startInstances({
    PUBLIC_URL: 'https://login.example.com',
    RATE_LIMIT: 'off',
    LOG_LEVEL: 'info',
    WECHAT_OA_TOKEN: OA.token,
  });
  clients = clientsOf(instances);
}, 120_000);
afterAll(async () => {
  await instances?.stop();
});

async function ticketOn(client: Client) {
  const answer = await client.run('CreateLoginTicket', { kind: 'MINI_PROGRAM_CODE' });
  expect(answer.errors).toBeUndefined();
  return answer.data!.createLoginTicket;
}

/** The person opens the code on their phone; the mini program talks to `client`'s instance. */
async function confirmOn(client: Client, scene: string, person: string): Promise<string> {
  const response = await fetch(`${instances.emulator.url}/__emulator/scan`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ appid: APPS.mini.appid, scene, user: person }),
  });
  const { code } = (await response.json()) as { code: string };
  const login = await client.run('WechatMiniLogin', { input: { code } });
  const as = bearer(login.data!.wechatMiniLogin.accessToken);
  expect((await client.run('ScanLoginTicket', { scene }, as)).errors).toBeUndefined();
  expect((await client.run('ConfirmLoginTicket', { scene }, as)).data!.confirmLoginTicket).toBe(true);
  return login.data!.wechatMiniLogin.user.id;
}

describe('login tickets across two instances', () => {
  it('signs in the page subscribed on one instance when the person confirms on the other', async () => {
    const [first, second] = instances.servers;
    const ticket = await ticketOn(clients[0]!);
    const watch = watchTicket(wsClient(first!.url), ticket.id, ticket.secret);
    await watch.received(1);
    const userId = await confirmOn(clients[1]!, ticket.scene, 'nina');
    expect(await watch.ended).toEqual({ codes: [] });
    // SCANNED may be passed over when the confirmation follows it before the page's instance
    // hears of either (re-reading every few seconds, where LISTEN cannot work).
    expect(watch.statuses[0]!.state).toBe('WAITING');
    const last = watch.statuses.at(-1)!;
    expect(last.state).toBe('CONFIRMED');
    expect(last.auth!.user.id).toBe(userId);
    // The session works on both instances.
    for (const client of clients) {
      expect((await client.me(last.auth!.accessToken)).data!.me!.id).toBe(userId);
    }
    await watch.close();
    expect(second!.output()).not.toContain('lts_');
  });

  it('hands the session over once when both instances are asked at once', async () => {
    const ticket = await ticketOn(clients[1]!);
    const watches = instances.servers.map((server) =>
      watchTicket(wsClient(server.url), ticket.id, ticket.secret),
    );
    await Promise.all(watches.map((watch) => watch.received(1)));
    const userId = await confirmOn(clients[0]!, ticket.scene, 'otto');
    const polls = await Promise.all(
      clients.map((c) => c.run('LoginTicket', { id: ticket.id, secret: ticket.secret })),
    );
    await Promise.all(watches.map((watch) => watch.ended));
    const answers = [...polls.map((p) => p.data!.loginTicket), ...watches.map((w) => w.statuses.at(-1)!)];
    expect(answers.every((a) => a.state === 'CONFIRMED')).toBe(true);
    expect(answers.filter((a) => a.auth !== null)).toHaveLength(1);
    expect((await clients[0]!.userRow(userId)).openSessions).toBe(2);
    for (const watch of watches) await watch.close();
  });

  it('signs in the page waiting on one instance when WeChat pushes the follow to the other, once', async () => {
    const [first, second] = instances.servers;
    const created = await clients[0]!.run('CreateLoginTicket', { kind: 'OFFICIAL_ACCOUNT_QR' });
    const ticket = created.data!.createLoginTicket;
    const watch = watchTicket(wsClient(first!.url), ticket.id, ticket.secret);
    await watch.received(1);
    await fetch(`${instances.emulator.url}/__emulator/follows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ appid: OA.appid, user: 'quinn' }),
    });
    const openid = instances.emulator.people.openid(OA.appid, 'quinn');
    // WeChat's retry reaching both instances at once: one login.
    const xml = eventXml(OA, { openid, event: 'subscribe', eventKey: `qrscene_${ticket.scene}` });
    const answers = await Promise.all(
      instances.servers.map((server) => sendPush(server.url, OA, signPush(OA, xml))),
    );
    expect(answers.map((a) => replyContent(OA, a.text)).filter(Boolean)).toEqual(['登录成功']);
    expect(await watch.ended).toEqual({ codes: [] });
    const last = watch.statuses.at(-1)!;
    expect(last.state).toBe('CONFIRMED');
    const methods = await sqlAt(instances.db.url)<{ app_id: string; open_id: string }>(
      'select app_id, open_id from user_login_method where user_id = ?',
      [last.auth!.user.id],
    );
    expect(methods).toEqual([{ app_id: OA.appid, open_id: openid }]);
    await watch.close();
    expect(second!.output()).not.toContain(OA.token);
  });

  itOnServer('LISTEN needs a database session of its own')(
    'wakes the other instance through LISTEN/NOTIFY, and listens again after its connection is cut',
    async () => {
      for (const server of instances.servers) {
        await eventually(async () => expect(server.output()).toContain('listening for the other instances'));
        expect(server.output()).not.toContain('did not come back');
      }
      const sql = sqlAt(instances.db.url);
      // The database ends every LISTEN connection (as a restart would): each instance reconnects.
      const before = instances.servers.map((s) => s.output().split('listening for the other').length);
      await sql(`select pg_terminate_backend(pid) from pg_stat_activity where query ilike 'listen %'`);
      for (const [i, server] of instances.servers.entries()) {
        await eventually(async () =>
          expect(server.output().split('listening for the other').length).toBeGreaterThan(before[i]!),
        );
      }
      const ticket = await ticketOn(clients[0]!);
      const watch = watchTicket(wsClient(instances.servers[0]!.url), ticket.id, ticket.secret);
      await watch.received(1);
      const userId = await confirmOn(clients[1]!, ticket.scene, 'pia');
      await watch.ended;
      expect(watch.statuses.at(-1)!.auth!.user.id).toBe(userId);
      await watch.close();
    },
  );
});
