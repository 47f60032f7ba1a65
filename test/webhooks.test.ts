import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Webhook } from 'standardwebhooks';
import { eventually } from './support/eventually.js';
import { startWebhookReceiver, type Received, type WebhookReceiver } from './support/webhook-receiver.js';
import { bearer, clientOf, type Client } from './support/client.js';
import { APPS, MINI_LOGIN, startWorld, type World } from './support/world.js';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const UPDATE_PROFILE = `mutation ($input: UpdateProfileInput!) { updateProfile(input: $input) { id nickname } }`;
const BIND = `mutation ($code: String!) { bindWechatPhoneNumber(code: $code) { id phoneNumber } }`;

let w: World;
let c: Client;
let receiver: WebhookReceiver;

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  w = await startWorld({
    env: { WEBHOOK_URLS: receiver.url, WEBHOOK_SECRET: SECRET },
    webhookSettings: { pollMs: 200, timeoutMs: 1000, retryDelaysMs: [300, 600], giveUpAfterMs: 60_000 },
  });
  c = clientOf(w);
});
afterAll(async () => {
  await w?.stop();
  await receiver?.close();
});
beforeEach(() => {
  receiver.answer = () => 204;
});

/** What the receiver got for this user (every attempt, answered or not), in arrival order. */
const of = (userId: string) => receiver.received.filter((r) => r.event.data.userId === userId);

/** Verifies as a consumer does: the standardwebhooks package, the raw body, the three headers. */
function verify(received: Received): unknown {
  return new Webhook(SECRET).verify(received.body, received.headers as Record<string, string>);
}

async function outboxRows(userId: string) {
  return c.sql<{ type: string; state: string; attempts: number; message_id: string; body: string }>(
    `select type, state, attempts, message_id, body from webhook_delivery where user_id = ? order by id`,
    [userId],
  );
}

describe('webhooks', () => {
  it('send a signed user.created on a first login, and nothing on a returning login', async () => {
    const first = await c.loginAs('mini', 'wes');
    expect(first.isNewUser).toBe(true);
    await eventually(async () => expect(of(first.user.id)).toHaveLength(1));
    const [created] = of(first.user.id);
    expect(verify(created!)).toEqual(created!.event);
    expect(created!.event).toEqual({
      type: 'user.created',
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      data: {
        userId: first.user.id,
        loginMethod: { id: expect.any(String), kind: 'WECHAT_MINI', appId: APPS.mini.appid },
      },
    });
    expect(created!.headers['webhook-id']).toMatch(/^msg_[A-Za-z0-9_-]{22}$/);
    expect(created!.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);

    const again = await c.loginAs('mini', 'wes');
    expect(again.isNewUser).toBe(false);
    expect(await outboxRows(first.user.id)).toHaveLength(1);
    // A later event of the same user arrives, and still no second user.created.
    await w.gql(UPDATE_PROFILE, { input: { nickname: 'Wes' } }, bearer(again.accessToken));
    await eventually(async () => expect(of(first.user.id)).toHaveLength(2));
    expect(of(first.user.id).map((r) => r.event.type)).toEqual(['user.created', 'user.updated']);
  });

  it('send user.updated with the changed fields on updateProfile', async () => {
    const login = await c.loginAs('mini', 'uma');
    const body = await w.gql(
      UPDATE_PROFILE,
      { input: { nickname: 'Uma', avatarUrl: 'https://cdn.example.com/uma.png' } },
      bearer(login.accessToken),
    );
    expect(body.errors).toBeUndefined();
    await eventually(async () => expect(of(login.user.id)).toHaveLength(2));
    const updated = of(login.user.id)[1]!;
    expect(verify(updated)).toEqual({
      type: 'user.updated',
      timestamp: expect.any(String),
      data: {
        userId: login.user.id,
        changed: ['nickname', 'avatarUrl'],
        nickname: 'Uma',
        avatarUrl: 'https://cdn.example.com/uma.png',
      },
    });
  });

  it('send user.updated naming phoneNumber on bindWechatPhoneNumber, never the number', async () => {
    const login = await c.loginAs('mini', 'pam');
    const { code } = await w.emulatorPost<{ code: string }>('/__emulator/phone-codes', {
      appid: APPS.mini.appid,
      user: 'pam',
      phoneNumber: '13812345678',
    });
    const bound = await w.gql<{ bindWechatPhoneNumber: { phoneNumber: string } }>(
      BIND,
      { code },
      bearer(login.accessToken),
    );
    expect(bound.data?.bindWechatPhoneNumber.phoneNumber).toBe('+8613812345678');
    await eventually(async () => expect(of(login.user.id)).toHaveLength(2));
    const updated = of(login.user.id)[1]!;
    expect(verify(updated)).toEqual({
      type: 'user.updated',
      timestamp: expect.any(String),
      data: { userId: login.user.id, changed: ['phoneNumber'] },
    });
    const stored = JSON.stringify(await outboxRows(login.user.id));
    for (const text of [updated.body, JSON.stringify(updated.headers), stored, w.t.log.text()]) {
      expect(text).not.toContain('12345678');
    }
  });

  it('send login_method.linked when a login adds an app by unionId, and user.updated when a login stores a number', async () => {
    const first = await c.loginAs('mini', 'lin');
    const viaApp = await c.login('app', 'lin');
    expect(viaApp.data!.wechatAppLogin).toMatchObject({ isNewUser: false, user: { id: first.user.id } });
    const phoneCode = async () =>
      (
        await w.emulatorPost<{ code: string }>('/__emulator/phone-codes', {
          appid: APPS.mini.appid,
          user: 'lin',
          phoneNumber: '13787654321',
        })
      ).code;
    for (let i = 0; i < 2; i++) {
      const withPhone = await w.gql(MINI_LOGIN, {
        input: { code: await w.code(APPS.mini.appid, 'lin'), phoneCode: await phoneCode() },
      });
      expect(withPhone.errors).toBeUndefined();
    }
    // The app's login also stored the WeChat profile the mini program never gave. The second
    // phone login stored the same number again: nothing changed, nothing sent.
    await eventually(async () => expect(of(first.user.id)).toHaveLength(4));
    const events = of(first.user.id).map((r) => verify(r) as Received['event']);
    expect(events.map((e) => e.type)).toEqual([
      'user.created',
      'login_method.linked',
      'user.updated',
      'user.updated',
    ]);
    expect(events[1]!.data).toEqual({
      userId: first.user.id,
      loginMethod: { id: expect.any(String), kind: 'WECHAT_APP', appId: APPS.app.appid },
    });
    expect(events[2]!.data).toEqual({
      userId: first.user.id,
      changed: ['nickname', 'avatarUrl'],
      nickname: 'lin',
      avatarUrl: expect.stringContaining('/__emulator/avatars/lin'),
    });
    expect(events[3]!.data).toEqual({ userId: first.user.id, changed: ['phoneNumber'] });
    const rows = await outboxRows(first.user.id);
    expect(rows.map((r) => r.type)).toEqual(events.map((e) => e.type));
    expect(JSON.stringify(rows)).not.toContain('87654321');
  });

  it('send an event again, with the same webhook-id, after an endpoint answers 500', async () => {
    let failures = 0;
    receiver.answer = (event) => (event.type === 'user.created' && failures++ === 0 ? 500 : 204);
    const login = await c.loginAs('mini', 'rex');
    await eventually(async () => expect(of(login.user.id)).toHaveLength(2));
    const [first, second] = of(login.user.id) as [Received, Received];
    expect([first.answer, second.answer]).toEqual([500, 204]);
    expect(second.headers['webhook-id']).toBe(first.headers['webhook-id']);
    expect(second.body).toBe(first.body);
    expect(verify(first)).toEqual(verify(second));
    await eventually(async () =>
      expect(await outboxRows(login.user.id)).toEqual([
        expect.objectContaining({ state: 'delivered', attempts: 2 }),
      ]),
    );
  });

  it('answer a login while the endpoint hangs, and deliver once it answers again', async () => {
    receiver.answer = () => 'hang';
    const ivy = await c.loginAs('mini', 'ivy');
    await eventually(async () => expect(receiver.hanging()).toBeGreaterThan(0));
    // The endpoint holds ivy's event open: a login still answers.
    const jon = await c.loginAs('mini', 'jon');
    expect(jon.isNewUser).toBe(true);
    expect(receiver.hanging()).toBeGreaterThan(0);
    expect(await outboxRows(ivy.user.id)).toEqual([expect.objectContaining({ state: 'pending' })]);

    receiver.answer = () => 204;
    await eventually(async () => {
      for (const id of [ivy.user.id, jon.user.id]) {
        expect(of(id).filter((r) => r.answer === 204)).toHaveLength(1);
        expect(await outboxRows(id)).toEqual([expect.objectContaining({ state: 'delivered' })]);
      }
    });
    // Timed out and retried: the same event, the same id.
    const ivys = of(ivy.user.id);
    expect(ivys.length).toBeGreaterThanOrEqual(2);
    expect(new Set(ivys.map((r) => r.headers['webhook-id'])).size).toBe(1);
  });

  it("send a user's events in order, a later one only after the earlier one is delivered", async () => {
    let refused = 0;
    receiver.answer = (event) => (event.type === 'user.created' && refused++ < 2 ? 503 : 204);
    const login = await c.loginAs('mini', 'ora');
    for (const nickname of ['Ora 1', 'Ora 2', 'Ora 3']) {
      const body = await w.gql(UPDATE_PROFILE, { input: { nickname } }, bearer(login.accessToken));
      expect(body.errors).toBeUndefined();
    }
    await eventually(async () => expect(of(login.user.id).filter((r) => r.answer === 204)).toHaveLength(4));
    expect(of(login.user.id).map((r) => [r.event.type, r.event.data.nickname ?? null, r.answer])).toEqual([
      ['user.created', null, 503],
      ['user.created', null, 503],
      ['user.created', null, 204],
      ['user.updated', 'Ora 1', 204],
      ['user.updated', 'Ora 2', 204],
      ['user.updated', 'Ora 3', 204],
    ]);
  });

  it('give up a delivery still failing a day after its event, logged at warn without secrets, and go on with the next', async () => {
    receiver.answer = (event) => (event.type === 'user.created' ? 500 : 204);
    const login = await c.loginAs('mini', 'gus');
    await eventually(async () => expect(of(login.user.id).length).toBeGreaterThan(0));
    // A day later (its event's clock moved back): the next failure is the last.
    await c.sql(
      `update webhook_delivery set created_at = created_at - interval '25 hours' where user_id = ?`,
      [login.user.id],
    );
    await eventually(async () =>
      expect(await outboxRows(login.user.id)).toEqual([expect.objectContaining({ state: 'failed' })]),
    );
    const [row] = await outboxRows(login.user.id);
    const line = w.t.log.lines.find((l) => l.includes('delivery given up') && l.includes(row!.message_id));
    expect(JSON.parse(line!)).toMatchObject({ level: 40, type: 'user.created', error: 'HTTP 500' });
    const log = w.t.log.text();
    expect(log).not.toContain(SECRET.slice('whsec_'.length));
    expect(log).not.toContain('v1,');
    // The user's next event is not held back by the one given up.
    await w.gql(UPDATE_PROFILE, { input: { nickname: 'Gus' } }, bearer(login.accessToken));
    await eventually(async () =>
      expect(
        of(login.user.id)
          .filter((r) => r.answer === 204)
          .map((r) => r.event.type),
      ).toEqual(['user.updated']),
    );
  });

  it('never send the event of a login whose transaction rolled back', async () => {
    await c.sql(`
      create table fail_sessions (on_ boolean);
      create function fail_session() returns trigger language plpgsql as
        $$ begin if exists (select 1 from fail_sessions) then raise exception 'session refused'; end if; return new; end $$;
      create trigger fail_session before insert on session for each row execute function fail_session();
      insert into fail_sessions values (true);`);
    const before = receiver.received.length;
    const rowsBefore = await c.sql<{ n: string }>(`select count(*) as n from webhook_delivery`);
    try {
      const failed = await w.gql(MINI_LOGIN, { input: { code: await w.code(APPS.mini.appid, 'rob') } });
      expect(failed.errors).toBeDefined();
      expect(await c.sql(`select count(*) as n from webhook_delivery`)).toEqual(rowsBefore);
    } finally {
      await c.sql(`drop trigger fail_session on session; drop table fail_sessions;`);
    }
    // The same person's next login registers them: one user.created, theirs, and nothing else.
    const rob = await c.loginAs('mini', 'rob');
    expect(rob.isNewUser).toBe(true);
    await eventually(async () => expect(of(rob.user.id)).toHaveLength(1));
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(receiver.received.slice(before).map((r) => r.event.data.userId)).toEqual([rob.user.id]);
  });
});
