import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { clientOf, type Client, type LoginKind } from './support/client.js';
import { eventually } from './support/eventually.js';
import { errorCode } from './support/graphql.js';
import { parseMetrics, sumOf } from './support/metrics.js';
import { eventXml, sendPush, signPush, type PushAccount } from './support/pushes.js';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver.js';
import { APPS, insertUser, startWorld, type World } from './support/world.js';

/**
 * REGISTRATION=closed: a WeChat identity that matches no user is refused (REGISTRATION_CLOSED) with
 * nothing written, by the four logins and by follow-login; existing users sign in, and a new app's
 * identity whose unionid a user holds joins them. The existing users are written straight into the
 * database, as an import or an earlier open period would have left them.
 */
const SECRET = `whsec_${Buffer.from('registration-test-secret-of-32-b!').toString('base64')}`;
const OA: PushAccount = { appid: APPS.official.appid, token: 'closedToken42' };
const KINDS: LoginKind[] = ['mini', 'app', 'web', 'official'];

let w: World;
let c: Client;
let receiver: WebhookReceiver;

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  w = await startWorld({
    env: {
      REGISTRATION: 'closed',
      RATE_LIMIT: 'off',
      WECHAT_OA_TOKEN: OA.token,
      WEBHOOK_URLS: receiver.url,
      WEBHOOK_SECRET: SECRET,
    },
    webhookSettings: { pollMs: 200, timeoutMs: 1000, retryDelaysMs: [300], giveUpAfterMs: 60_000 },
  });
  c = clientOf(w);
}, 60_000);
afterAll(async () => {
  await w?.stop();
  await receiver?.close();
});

/** Rows of every table a login writes to. */
async function rows() {
  const [row] = await c.sql<Record<string, string>>(
    `select (select count(*) from "user") as users, (select count(*) from user_login_method) as methods,
            (select count(*) from session) as sessions, (select count(*) from webhook_delivery) as webhooks,
            (select count(*) from handled_push) as pushes`,
  );
  return row;
}

async function loginsCounted(outcome: string): Promise<number> {
  const samples = parseMetrics(await w.t.server.metrics.registry.metrics());
  return sumOf(samples, 'wechat_login_logins_total', { outcome });
}

describe('REGISTRATION=closed', () => {
  it('refuses a new person in each of the four logins, writing nothing, counted as REGISTRATION_CLOSED', async () => {
    const before = await rows();
    for (const kind of KINDS) {
      const answer = await c.login(kind, `stranger-${kind}`);
      expect(errorCode(answer)).toBe('REGISTRATION_CLOSED');
      expect(answer.errors![0]!.message).toMatch(/no new accounts/);
      expect(answer.data).toBeNull();
    }
    expect(await rows()).toEqual(before);
    expect(await loginsCounted('REGISTRATION_CLOSED')).toBe(KINDS.length);
  });

  it('refuses a new person who brings a phone number too', async () => {
    const before = await rows();
    const { code: phoneCode } = await w.emulatorPost<{ code: string }>('/__emulator/phone-codes', {
      appid: APPS.mini.appid,
      user: 'dora',
      phoneNumber: '13800138077',
    });
    const answer = await c.login('mini', 'dora', { phoneCode });
    expect(errorCode(answer)).toBe('REGISTRATION_CLOSED');
    expect(JSON.stringify(answer)).not.toContain('13800138077');
    expect(await rows()).toEqual(before);
  });

  it('signs an existing user in, and joins a new app’s identity whose unionid they hold', async () => {
    const userId = await insertUser(w, 'erin');
    const mini = await c.loginAs('mini', 'erin');
    expect(mini.user.id).toBe(userId);
    expect(mini.isNewUser).toBe(false);

    const before = await rows();
    const web = await c.loginAs('web', 'erin');
    expect(web.user.id).toBe(userId);
    expect(web.isNewUser).toBe(false);
    expect(web.user.loginMethods.map((m) => m.kind).sort()).toEqual(['WECHAT_MINI', 'WECHAT_WEB']);
    const after = await rows();
    expect(Number(after!.users)).toBe(Number(before!.users));
    expect(Number(after!.methods)).toBe(Number(before!.methods) + 1);
    // The link is announced as in open registration.
    await eventually(async () => {
      expect(receiver.received.map((r) => r.event.type)).toContain('login_method.linked');
    });
    expect(receiver.received.map((r) => r.event.type)).not.toContain('user.created');
  });

  it('refuses concurrent first logins of a new person, and joins concurrent ones of a held unionid once', async () => {
    const userId = await insertUser(w, 'frank');
    const before = await rows();
    const strangers = await Promise.all(Array.from({ length: 6 }, () => c.login('app', 'gina')));
    expect(strangers.map(errorCode)).toEqual(Array(6).fill('REGISTRATION_CLOSED'));
    expect(await rows()).toEqual(before);

    const joins = await Promise.all(Array.from({ length: 6 }, () => c.login('app', 'frank')));
    expect(joins.map((j) => j.errors)).toEqual(Array(6).fill(undefined));
    expect(new Set(joins.map((j) => j.data!.wechatAppLogin.user.id))).toEqual(new Set([userId]));
    const after = await rows();
    expect(Number(after!.users)).toBe(Number(before!.users));
    expect(Number(after!.methods)).toBe(Number(before!.methods) + 1);
  });

  it('leaves a follow-login ticket waiting for a person who matches no user, and signs in one who does', async () => {
    const ticket = (await c.run('CreateLoginTicket', { kind: 'OFFICIAL_ACCOUNT_QR', appId: OA.appid })).data!
      .createLoginTicket;
    const follow = async (person: string) => {
      await w.emulatorPost('/__emulator/follows', { appid: OA.appid, user: person });
      const openid = w.emulator.people.openid(OA.appid, person);
      const xml = eventXml(OA, { openid, event: 'subscribe', eventKey: `qrscene_${ticket.scene}` });
      return sendPush(w.t.url, OA, signPush(OA, xml));
    };
    const state = async () =>
      (await c.run('LoginTicket', { id: ticket.id, secret: ticket.secret })).data!.loginTicket;

    const before = await rows();
    const refused = await follow('hank');
    expect(refused.status).toBe(200);
    expect(refused.text).toBe('success');
    expect((await state()).state).toBe('WAITING');
    expect(await rows()).toEqual(before);
    const pushes = parseMetrics(await w.t.server.metrics.registry.metrics());
    expect(
      sumOf(pushes, 'wechat_login_official_account_pushes_total', { outcome: 'registration-closed' }),
    ).toBe(1);

    const userId = await insertUser(w, 'iris');
    expect((await follow('iris')).status).toBe(200);
    const confirmed = await state();
    expect(confirmed.state).toBe('CONFIRMED');
    expect(confirmed.auth!.user.id).toBe(userId);
    expect(confirmed.auth!.isNewUser).toBe(false);
  });
});
