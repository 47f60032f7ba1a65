import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { bearer, clientOf, kinds, type Client, type UserView } from './support/client.js';
import { eventually } from './support/eventually.js';
import { errorCode } from './support/graphql.js';
import type { Received } from './support/webhook-receiver.js';
import { startWebhookReceiver, verifier, type WebhookReceiver } from './support/webhook-receiver.js';
import { APPS, startWorld, type World } from './support/world.js';

/**
 * An account after its first login: linking another WeChat identity, merging the account that
 * holds it, unlinking, deleting; with the races that matter (a merge during logins of the merged
 * user, two merges at once, a deletion during refreshes) and the webhook events they send. The
 * mini program is not bound to the Open Platform here, so one person can be two users (its users
 * have no unionId), as in a product whose mini program came first.
 */
const SECRET = `whsec_${Buffer.from('account-lifecycle-test-secret-32b!').toString('base64')}`;
const USER_FIELDS = 'id nickname avatarUrl phoneNumber loginMethods { kind appId openId unionId }';
const LINK = `mutation ($input: LinkWechatIdentityInput!) { linkWechatIdentity(input: $input) { ${USER_FIELDS} } }`;
const UNLINK = `mutation ($appId: String!, $openId: String!) { unlinkLoginMethod(appId: $appId, openId: $openId) { ${USER_FIELDS} } }`;
const DELETE = 'mutation { deleteAccount }';

let w: World;
let c: Client;
let receiver: WebhookReceiver;

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  w = await startWorld({
    apps: { mini: { ...APPS.mini, bound: false } },
    env: { WEBHOOK_URLS: receiver.url, WEBHOOK_SECRET: SECRET, RATE_LIMIT_IDENTITY_PER_MINUTE: '1000' },
    webhookSettings: { pollMs: 200, timeoutMs: 1000, retryDelaysMs: [300, 600], giveUpAfterMs: 60_000 },
  });
  c = clientOf(w);
}, 60_000);
afterAll(async () => {
  await w?.stop();
  await receiver?.close();
});

/** The events the receiver got about this user (as userId, or as the merged user), in arrival order. */
const eventsOf = (userId: string) =>
  receiver.received.filter((r) => r.event.data.userId === userId || r.event.data.mergedUserId === userId);

/** The events written for this user, from the outbox itself: what any later delivery would send. */
async function written(userId: string): Promise<string[]> {
  const rows = await c.sql<{ type: string }>(
    `select type from webhook_delivery where user_id = ? order by id`,
    [userId],
  );
  return rows.map((r) => r.type);
}

const verified = verifier(SECRET);

beforeEach(() => {
  receiver.answer = () => 204;
});

describe('linkWechatIdentity', () => {
  it('adds an identity nobody holds, and the next login through it is the same user', async () => {
    const ann = await c.loginAs('web', 'ann');
    const linked = await c.link(ann.accessToken, 'mini', 'ann');
    expect(linked.errors).toBeUndefined();
    expect(kinds(linked.data!.linkWechatIdentity)).toEqual(['WECHAT_MINI', 'WECHAT_WEB']);
    expect(linked.data!.linkWechatIdentity.id).toBe(ann.user.id);

    const viaMini = await c.loginAs('mini', 'ann');
    expect(viaMini).toMatchObject({ isNewUser: false, otherAccountExists: false, user: { id: ann.user.id } });

    // Already this user's: no change, no event.
    const again = await c.link(ann.accessToken, 'mini', 'ann');
    expect(again.errors).toBeUndefined();
    expect(kinds(again.data!.linkWechatIdentity)).toEqual(['WECHAT_MINI', 'WECHAT_WEB']);

    await eventually(async () => {
      expect(eventsOf(ann.user.id).map((r) => r.event.type)).toEqual(['user.created', 'login_method.linked']);
    });
    expect(await written(ann.user.id)).toEqual(['user.created', 'login_method.linked']);
    const event = verified(eventsOf(ann.user.id)[1]!) as Received['event'];
    expect(event.data).toEqual({
      userId: ann.user.id,
      loginMethod: { id: expect.any(String), kind: 'WECHAT_MINI', appId: APPS.mini.appid },
    });
  });

  it('links a website identity with its state, spent once, and takes its unionId', async () => {
    const bea = await c.loginAs('mini', 'bea');
    expect(bea.user.loginMethods[0]!.unionId).toBeNull();
    const code = await w.code(APPS.web.appid, 'bea');
    const state = await c.state('web');
    const input = { kind: 'WECHAT_WEB' as const, code, state };
    const linked = await c.run('LinkWechatIdentity', { input }, bearer(bea.accessToken));
    expect(linked.errors).toBeUndefined();
    const web = linked.data!.linkWechatIdentity.loginMethods.find((m) => m.kind === 'WECHAT_WEB')!;
    expect(web.unionId).toBeTruthy();
    expect((await c.userRow(bea.user.id)).union_id).toBe(web.unionId);

    // The state is spent: the same input again is refused before WeChat is asked.
    const replay = await w.gql(LINK, { input }, bearer(bea.accessToken));
    expect(errorCode(replay)).toBe('INVALID_STATE');
    // The mobile app knows her by that unionId: the same user, and its method is linked.
    expect((await c.loginAs('app', 'bea')).user.id).toBe(bea.user.id);
    // The website's WeChat profile filled her empty nickname and avatar, and said so.
    expect(linked.data!.linkWechatIdentity.nickname).toBe('bea');
    expect(await written(bea.user.id)).toEqual([
      'user.created',
      'login_method.linked',
      'user.updated',
      'login_method.linked',
    ]);
  });

  it('answers clear errors for a missing state, a stray field and no session', async () => {
    const cal = await c.loginAs('mini', 'cal');
    const code = await w.code(APPS.web.appid, 'cal');
    const noState = await w.gql(LINK, { input: { kind: 'WECHAT_WEB', code } }, bearer(cal.accessToken));
    expect(errorCode(noState)).toBe('BAD_USER_INPUT');
    expect(noState.errors![0]!.extensions!.field).toBe('state');

    const miniCode = await w.code(APPS.mini.appid, 'cal');
    const stray = await w.gql(
      LINK,
      { input: { kind: 'WECHAT_MINI', code: miniCode, state: 'x' } },
      bearer(cal.accessToken),
    );
    expect(errorCode(stray)).toBe('BAD_USER_INPUT');
    expect(stray.errors![0]!.extensions!.field).toBe('state');

    const anonymous = await w.gql(LINK, { input: { kind: 'WECHAT_MINI', code: miniCode } });
    expect(errorCode(anonymous)).toBe('UNAUTHENTICATED');
    expect((await c.userRow(cal.user.id)).methods).toBe(1);
  });

  it('refuses another account’s identity (IDENTITY_IN_USE), then merges it with merge: true', async () => {
    const onWeb = await c.loginAs('web', 'cyd');
    const onMini = await c.loginAs('mini', 'cyd');
    expect(onMini.user.id).not.toBe(onWeb.user.id);
    expect(onWeb.user.nickname).toBeTruthy();
    expect(onMini.user.nickname).toBeNull();

    // The mobile app is nobody's yet, but its unionId is the website user's.
    const refused = await c.link(onMini.accessToken, 'app', 'cyd');
    expect(errorCode(refused)).toBe('IDENTITY_IN_USE');
    expect((await c.userRow(onMini.user.id)).methods).toBe(1);

    const merged = await c.link(onMini.accessToken, 'app', 'cyd', true);
    expect(merged.errors).toBeUndefined();
    const survivor = merged.data!.linkWechatIdentity;
    expect(survivor.id).toBe(onMini.user.id);
    expect(kinds(survivor)).toEqual(['WECHAT_APP', 'WECHAT_MINI', 'WECHAT_WEB']);
    expect(survivor.nickname).toBe(onWeb.user.nickname);

    // The merged account is a tombstone pointing at the survivor; its sessions ended at once.
    expect(await c.userRow(onWeb.user.id)).toMatchObject({
      union_id: null,
      nickname: null,
      avatar_url: null,
      merged_into_id: onMini.user.id,
      ended: true,
      methods: 0,
      openSessions: 0,
    });
    expect(errorCode(await c.me(onWeb.accessToken))).toBe('UNAUTHENTICATED');
    expect(errorCode(await c.refresh(onWeb.refreshToken))).toBe('UNAUTHENTICATED');
    expect((await c.me(onMini.accessToken)).data!.me!.id).toBe(onMini.user.id);

    // Every app now signs the person in as the survivor, with nothing left to merge.
    for (const kind of ['web', 'mini', 'app'] as const) {
      expect(await c.loginAs(kind, 'cyd')).toMatchObject({
        isNewUser: false,
        otherAccountExists: false,
        user: { id: onMini.user.id },
      });
    }

    await eventually(async () => {
      const types = eventsOf(onWeb.user.id).map((r) => r.event.type);
      expect(types).toEqual(['user.created', 'user.merged']);
    });
    const event = verified(eventsOf(onWeb.user.id)[1]!) as Received['event'];
    expect(event.data).toEqual({
      userId: onMini.user.id,
      mergedUserId: onWeb.user.id,
      loginMethods: [{ id: expect.any(String), kind: 'WECHAT_WEB', appId: APPS.web.appid }],
      changed: ['nickname', 'avatarUrl'],
    });
    await eventually(async () => {
      expect(eventsOf(onMini.user.id).map((r) => r.event.type)).toContain('login_method.linked');
    });
  });

  it('never merges two WeChat persons (IDENTITY_CONFLICT), and changes nothing', async () => {
    const dee = await c.loginAs('app', 'dee');
    const eli = await c.loginAs('web', 'eli');
    expect(errorCode(await c.link(dee.accessToken, 'web', 'eli'))).toBe('IDENTITY_IN_USE');
    expect(errorCode(await c.link(dee.accessToken, 'web', 'eli', true))).toBe('IDENTITY_CONFLICT');
    // Someone nobody knows yet, but another WeChat person than Dee.
    expect(errorCode(await c.link(dee.accessToken, 'official', 'fox'))).toBe('IDENTITY_CONFLICT');
    expect(await c.userRow(dee.user.id)).toMatchObject({ methods: 1, ended: false });
    expect(await c.userRow(eli.user.id)).toMatchObject({ methods: 1, ended: false, openSessions: 1 });
    expect((await c.me(eli.accessToken)).data!.me!.id).toBe(eli.user.id);
  });
});

describe('unlinkLoginMethod', () => {
  it('removes a method, never the last, and lets the unlinked app go its own way', async () => {
    const gil = await c.loginAs('web', 'gil');
    const withMini = (await c.link(gil.accessToken, 'mini', 'gil')).data!.linkWechatIdentity;
    const webMethod = withMini.loginMethods.find((m) => m.kind === 'WECHAT_WEB')!;
    const miniMethod = withMini.loginMethods.find((m) => m.kind === 'WECHAT_MINI')!;

    const tooLong = await w.gql(
      UNLINK,
      { appId: APPS.web.appid, openId: 'o'.repeat(200) },
      bearer(gil.accessToken),
    );
    expect(errorCode(tooLong)).toBe('BAD_USER_INPUT');
    expect(tooLong.errors![0]!.extensions!.field).toBe('openId');
    const unknown = await w.gql(
      UNLINK,
      { appId: APPS.web.appid, openId: 'o-nobody' },
      bearer(gil.accessToken),
    );
    expect(errorCode(unknown)).toBe('BAD_USER_INPUT');
    // Someone else's method is not this user's to remove.
    const other = await c.loginAs('web', 'hal');
    const foreign = await w.gql(
      UNLINK,
      { appId: APPS.web.appid, openId: other.user.loginMethods[0]!.openId },
      bearer(gil.accessToken),
    );
    expect(errorCode(foreign)).toBe('BAD_USER_INPUT');

    const unlinked = await w.gql<{ unlinkLoginMethod: UserView }>(
      UNLINK,
      { appId: webMethod.appId, openId: webMethod.openId },
      bearer(gil.accessToken),
    );
    expect(unlinked.errors).toBeUndefined();
    expect(kinds(unlinked.data!.unlinkLoginMethod)).toEqual(['WECHAT_MINI']);
    // No remaining method carries the website's unionId, so the user gives it up: the website
    // login is a new user now, not this one again.
    expect((await c.userRow(gil.user.id)).union_id).toBeNull();
    expect(await c.loginAs('web', 'gil')).toMatchObject({ isNewUser: true });

    const last = await w.gql(
      UNLINK,
      { appId: miniMethod.appId, openId: miniMethod.openId },
      bearer(gil.accessToken),
    );
    expect(errorCode(last)).toBe('LAST_LOGIN_METHOD');
    expect((await c.userRow(gil.user.id)).methods).toBe(1);

    await eventually(async () => {
      expect(eventsOf(gil.user.id).map((r) => r.event.type)).toEqual([
        'user.created',
        'login_method.linked',
        'login_method.unlinked',
      ]);
    });
    expect(eventsOf(gil.user.id)[2]!.event.data).toEqual({
      userId: gil.user.id,
      loginMethod: { id: expect.any(String), kind: 'WECHAT_WEB', appId: APPS.web.appid },
    });
  });
});

describe('deleteAccount', () => {
  it('erases the person, ends every session at once, and a later login is a new user', async () => {
    const first = await c.loginAs('web', 'ida');
    const second = await c.loginAs('web', 'ida');
    await c.link(first.accessToken, 'mini', 'ida');
    const { code } = await w.emulatorPost<{ code: string }>('/__emulator/phone-codes', {
      appid: APPS.mini.appid,
      user: 'ida',
      phoneNumber: '13900139000',
    });
    const bound = await w.gql(
      'mutation ($code: String!) { bindWechatPhoneNumber(code: $code) { phoneNumber } }',
      { code },
      bearer(first.accessToken),
    );
    expect(bound.errors).toBeUndefined();

    const deleted = await w.gql<{ deleteAccount: boolean }>(DELETE, {}, bearer(first.accessToken));
    expect(deleted).toEqual({ data: { deleteAccount: true } });

    expect(await c.userRow(first.user.id)).toEqual({
      union_id: null,
      nickname: null,
      avatar_url: null,
      phone_number: null,
      ended: true,
      merged_into_id: null,
      methods: 0,
      openSessions: 0,
    });
    for (const session of [first, second]) {
      expect(errorCode(await c.me(session.accessToken))).toBe('UNAUTHENTICATED');
      expect(errorCode(await c.refresh(session.refreshToken))).toBe('UNAUTHENTICATED');
    }
    expect(errorCode(await w.gql(DELETE, {}, bearer(second.accessToken)))).toBe('UNAUTHENTICATED');

    const again = await c.loginAs('web', 'ida');
    expect(again).toMatchObject({ isNewUser: true, otherAccountExists: false });
    expect(again.user.id).not.toBe(first.user.id);
    expect(again.user.nickname).toBeTruthy();

    await eventually(async () => {
      expect(eventsOf(first.user.id).map((r) => r.event.type)).toEqual([
        'user.created',
        'login_method.linked',
        'user.updated',
        'user.deleted',
      ]);
    });
    expect(verified(eventsOf(first.user.id)[3]!)).toMatchObject({ data: { userId: first.user.id } });
  });

  it('needs a session', async () => {
    expect(errorCode(await w.gql(DELETE))).toBe('UNAUTHENTICATED');
  });
});

describe('races', () => {
  it('a merge during logins of the merged user: every login succeeds, none leaves it a way in', async () => {
    const merged = await c.loginAs('web', 'jan');
    const survivor = await c.loginAs('mini', 'jan');
    // Returning logins of the merged user (the one-statement path) and first logins through the
    // official account, which find it by its unionId (the full path), all during the merge.
    const logins = Array.from({ length: 8 }, (_, i) => c.login(i % 2 ? 'web' : 'official', 'jan'));
    const merging = c.link(survivor.accessToken, 'app', 'jan', true);
    const [mergeAnswer, ...answers] = await Promise.all([merging, ...logins]);
    expect(mergeAnswer.errors).toBeUndefined();

    for (const answer of answers) {
      expect(answer.errors).toBeUndefined();
      const payload = Object.values(answer.data!)[0]!;
      expect([merged.user.id, survivor.user.id]).toContain(payload.user.id);
      const now = await c.me(payload.accessToken);
      if (payload.user.id === survivor.user.id) expect(now.data!.me!.id).toBe(survivor.user.id);
      else expect(errorCode(now)).toBe('UNAUTHENTICATED');
    }
    expect(await c.userRow(merged.user.id)).toMatchObject({
      methods: 0,
      openSessions: 0,
      merged_into_id: survivor.user.id,
    });
    const after = (await c.me(survivor.accessToken)).data!.me!;
    expect(kinds(after)).toEqual(['WECHAT_APP', 'WECHAT_MINI', 'WECHAT_OFFICIAL_ACCOUNT', 'WECHAT_WEB']);
    expect(await c.loginAs('official', 'jan')).toMatchObject({ user: { id: survivor.user.id } });
  });

  it('two merges at once of two accounts into each other: one wins, the other finds its account gone', async () => {
    const onWeb = await c.loginAs('web', 'kai');
    const onMini = await c.loginAs('mini', 'kai');
    const [a, b] = await Promise.all([
      c.link(onWeb.accessToken, 'mini', 'kai', true),
      c.link(onMini.accessToken, 'web', 'kai', true),
    ]);
    const answers = [a, b];
    const won = answers.filter((x) => !x.errors);
    expect(won).toHaveLength(1);
    expect(answers.map(errorCode).filter(Boolean)).toEqual(['UNAUTHENTICATED']);
    const survivorId = won[0]!.data!.linkWechatIdentity.id;
    const goneId = survivorId === onWeb.user.id ? onMini.user.id : onWeb.user.id;
    expect(kinds(won[0]!.data!.linkWechatIdentity)).toEqual(['WECHAT_MINI', 'WECHAT_WEB']);
    expect(await c.userRow(goneId)).toMatchObject({
      merged_into_id: survivorId,
      methods: 0,
      openSessions: 0,
    });
    expect(await c.userRow(survivorId)).toMatchObject({ ended: false, methods: 2 });
  });

  it('a deletion during refreshes: whatever the refreshes got, no session survives', async () => {
    const sessions = await Promise.all([
      c.loginAs('mini', 'lou'),
      c.loginAs('mini', 'lou'),
      c.loginAs('mini', 'lou'),
    ]);
    const userId = sessions[0]!.user.id;
    const [deleted, ...refreshes] = await Promise.all([
      w.gql(DELETE, {}, bearer(sessions[0]!.accessToken)),
      ...sessions.flatMap((s) => [c.refresh(s.refreshToken), c.refresh(s.refreshToken)]),
    ]);
    expect(deleted).toEqual({ data: { deleteAccount: true } });
    for (const answer of refreshes) {
      if (answer.errors) {
        expect(errorCode(answer)).toBe('UNAUTHENTICATED');
        continue;
      }
      const tokens = answer.data!.refreshSession;
      expect(errorCode(await c.me(tokens.accessToken))).toBe('UNAUTHENTICATED');
      expect(errorCode(await c.refresh(tokens.refreshToken))).toBe('UNAUTHENTICATED');
    }
    expect(await c.userRow(userId)).toMatchObject({ methods: 0, openSessions: 0, ended: true });
  });
});
