import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { Context } from '../src/graphql/context.js';
import { UserResolver } from '../src/graphql/resolvers/user.resolver.js';
import { toUserType } from '../src/graphql/types/mappers.js';
import { ipPrefix } from '../src/rate-limits/client-key.js';
import { MAX_USER_AGENT_LENGTH, sessionDevice } from '../src/sessions/session-device.js';
import { bearer, clientOf, type Client } from './support/client.js';
import { errorCode } from './support/graphql.js';
import { APPS, startWorld, type World } from './support/world.js';

/**
 * The person's own sessions (issue 30): me { sessions } and revokeSession, what each session keeps
 * of its client (user agent, IP prefix, last use), and that nobody else sees them.
 */
let w: World;
let c: Client;

const PHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) MicroMessenger/8.0.47';
const LAPTOP = 'Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36';
const TABLET = 'Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) Safari/604.1';

beforeAll(async () => {
  w = await startWorld({ env: { RATE_LIMIT_USER_PER_MINUTE: '1000' } });
  c = clientOf(w);
});
afterAll(async () => {
  await w?.stop();
});
beforeEach(async () => {
  await w.emulatorPost('/__emulator/reset', {});
});

/** `person`'s mini program login from a client sending this User-Agent. */
async function loginFrom(person: string, userAgent: string) {
  const code = await c.code('mini', person);
  const body = await c.run('WechatMiniLogin', { input: { code } }, { 'user-agent': userAgent });
  expect(body.errors).toBeUndefined();
  return body.data!.wechatMiniLogin;
}

async function sessionsOf(accessToken: string) {
  const body = await c.run('MySessions', {}, bearer(accessToken));
  expect(body.errors).toBeUndefined();
  return body.data!.me!.sessions;
}

const revoke = (accessToken: string, id: string) => c.run('RevokeSession', { id }, bearer(accessToken));

describe('me { sessions }', () => {
  it('lists the person’s live sessions, newest use first, with the current one, user agent and IP prefix', async () => {
    const phone = await loginFrom('sena', PHONE);
    const laptop = await loginFrom('sena', LAPTOP);
    expect(laptop.user.id).toBe(phone.user.id);

    const seenByLaptop = await sessionsOf(laptop.accessToken);
    expect(seenByLaptop.map((s) => [s.userAgent, s.current])).toEqual([
      [LAPTOP, true],
      [PHONE, false],
    ]);
    for (const session of seenByLaptop) {
      // The test's client is 127.0.0.1: its network, never the address.
      expect(session.ipPrefix).toBe('127.0.0.0/24');
      expect(session.lastUsedAt).toBe(session.createdAt);
    }
    const seenByPhone = await sessionsOf(phone.accessToken);
    expect(seenByPhone.map((s) => s.id)).toEqual(seenByLaptop.map((s) => s.id));
    expect(seenByPhone.map((s) => s.current)).toEqual([false, true]);

    // A login's own answer is the person's too: the session it opened is the current one.
    const body = await c.gql<{ wechatMiniLogin: { user: { sessions: { id: string; current: boolean }[] } } }>(
      `mutation ($input: WechatMiniLoginInput!) { wechatMiniLogin(input: $input) { user { sessions { id current } } } }`,
      { input: { code: await c.code('mini', 'sena') } },
    );
    expect(body.errors).toBeUndefined();
    const listed = body.data!.wechatMiniLogin.user.sessions;
    expect(listed).toHaveLength(3);
    expect(listed.filter((s) => s.current)).toEqual([listed[0]]);
  });

  it('records the last use and the refresher’s user agent at refresh, not at other requests', async () => {
    const login = await loginFrom('tove', PHONE);
    const [before] = await sessionsOf(login.accessToken);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await sessionsOf(login.accessToken);
    expect((await sessionsOf(login.accessToken))[0]!.lastUsedAt).toBe(before!.lastUsedAt);

    const refreshed = await c.run(
      'RefreshSession',
      { refreshToken: login.refreshToken },
      { 'user-agent': TABLET },
    );
    expect(refreshed.errors).toBeUndefined();
    const [after] = await sessionsOf(refreshed.data!.refreshSession.accessToken);
    expect(after).toMatchObject({
      id: before!.id,
      current: true,
      userAgent: TABLET,
      createdAt: before!.createdAt,
    });
    expect(new Date(after!.lastUsedAt).getTime()).toBeGreaterThan(new Date(before!.lastUsedAt).getTime());
  });

  it('records the waiting page’s client on a session a login ticket hands over, not the phone’s', async () => {
    const created = (await c.run('CreateLoginTicket', { kind: 'MINI_PROGRAM_CODE' })).data!.createLoginTicket;
    const opened = await w.emulatorPost<{ code: string }>('/__emulator/scan', {
      appid: APPS.mini.appid,
      scene: created.scene,
      user: 'ulla',
    });
    const phone = await c.run('WechatMiniLogin', { input: { code: opened.code } }, { 'user-agent': PHONE });
    const onPhone = bearer(phone.data!.wechatMiniLogin.accessToken);
    expect((await c.run('ScanLoginTicket', { scene: created.scene }, onPhone)).errors).toBeUndefined();
    expect((await c.run('ConfirmLoginTicket', { scene: created.scene }, onPhone)).errors).toBeUndefined();
    const status = await c.run(
      'LoginTicket',
      { id: created.id, secret: created.secret },
      { 'user-agent': LAPTOP },
    );
    const page = status.data!.loginTicket.auth!;
    const sessions = await sessionsOf(page.accessToken);
    expect(sessions.map((s) => [s.userAgent, s.current])).toEqual([
      [LAPTOP, true],
      [PHONE, false],
    ]);
  });

  it('is the user’s own: no me without a bearer, and another person’s me lists only theirs', async () => {
    const mine = await loginFrom('vida', PHONE);
    const theirs = await loginFrom('wren', LAPTOP);
    expect((await c.run('MySessions', {})).data).toEqual({ me: null });
    const listed = await sessionsOf(theirs.accessToken);
    expect(listed).toHaveLength(1);
    expect(listed[0]!.userAgent).toBe(LAPTOP);
    expect((await sessionsOf(mine.accessToken)).map((s) => s.id)).not.toContain(listed[0]!.id);
  });
});

describe('revokeSession', () => {
  it('ends another of the person’s sessions at once: its refresh token and access token stop working', async () => {
    const phone = await loginFrom('xena', PHONE);
    const laptop = await loginFrom('xena', LAPTOP);
    const other = (await sessionsOf(laptop.accessToken)).find((s) => !s.current)!;
    expect(other.userAgent).toBe(PHONE);

    expect((await revoke(laptop.accessToken, other.id)).data).toEqual({ revokeSession: true });
    expect(errorCode(await c.me(phone.accessToken))).toBe('UNAUTHENTICATED');
    expect(errorCode(await c.refresh(phone.refreshToken))).toBe('UNAUTHENTICATED');
    expect((await sessionsOf(laptop.accessToken)).map((s) => s.userAgent)).toEqual([LAPTOP]);
    const [row] = await c.sql<{ revoked_reason: string }>('select revoked_reason from session where id = ?', [
      other.id,
    ]);
    expect(row!.revoked_reason).toBe('revoked_by_user');

    // Ended already: no longer one of the live sessions.
    expect(errorCode(await revoke(laptop.accessToken, other.id))).toBe('BAD_USER_INPUT');
  });

  it('may end the current session (a logout)', async () => {
    const login = await loginFrom('yuki', PHONE);
    const [current] = await sessionsOf(login.accessToken);
    expect((await revoke(login.accessToken, current!.id)).data).toEqual({ revokeSession: true });
    expect(errorCode(await c.me(login.accessToken))).toBe('UNAUTHENTICATED');
  });

  it('answers another person’s session, an unknown id and a malformed one alike, and changes nothing', async () => {
    const mine = await loginFrom('zara', PHONE);
    const theirs = await loginFrom('abel', LAPTOP);
    const [their] = await sessionsOf(theirs.accessToken);
    for (const id of [their!.id, '00000000-0000-4000-8000-000000000000', 'not-a-session', '']) {
      const body = await revoke(mine.accessToken, id);
      expect(errorCode(body)).toBe('BAD_USER_INPUT');
      expect(body.errors![0]!.extensions!.field).toBe('id');
      expect(body.errors![0]!.message).toBe('No live session of this account has this id');
    }
    expect((await c.me(theirs.accessToken)).data!.me!.id).toBe(theirs.user.id);
    expect((await sessionsOf(mine.accessToken)).map((s) => s.current)).toEqual([true]);
  });

  it('needs a bearer', async () => {
    const login = await loginFrom('bo', PHONE);
    const [session] = await sessionsOf(login.accessToken);
    expect(errorCode(await c.run('RevokeSession', { id: session!.id }))).toBe('UNAUTHENTICATED');
    expect(await sessionsOf(login.accessToken)).toHaveLength(1);
  });
});

describe('what a session keeps of its client', () => {
  it('reduces an address to its network: IPv4 /24, IPv6 /48, never the host', () => {
    expect(ipPrefix('203.0.113.77')).toBe('203.0.113.0/24');
    expect(ipPrefix('::ffff:198.51.100.9')).toBe('198.51.100.0/24');
    expect(ipPrefix('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1::/48');
    expect(ipPrefix('2001:db8::1')).toBe('2001:db8:0::/48');
    expect(ipPrefix('fe80::1%eth0')).toBe('fe80:0:0::/48');
    expect(ipPrefix('')).toBeNull();
    expect(ipPrefix('not an address')).toBeNull();
  });

  it('keeps a user agent without control characters, cut to length; none when there is none', () => {
    const long = `Agent/${'x'.repeat(1000)}`;
    expect(sessionDevice({ ip: '127.0.0.1', userAgent: long }).userAgent).toHaveLength(MAX_USER_AGENT_LENGTH);
    expect(sessionDevice({ ip: '127.0.0.1', userAgent: 'A\u0000B\u001bC\u007f ' }).userAgent).toBe('ABC');
    // Format characters (a bidi override, zero-width ones, a soft hyphen) would disguise it in a list.
    expect(sessionDevice({ ip: '127.0.0.1', userAgent: 'Evil\u202e\u200bGood\u00ad\u2066' }).userAgent).toBe(
      'EvilGood',
    );
    expect(sessionDevice({ ip: '127.0.0.1', userAgent: ' \t' })).toEqual({
      userAgent: null,
      ipPrefix: '127.0.0.0/24',
    });
    expect(sessionDevice({ ip: '127.0.0.1', userAgent: undefined }).userAgent).toBeNull();
  });
});

describe('anyone else’s view of a user', () => {
  it('has no sessions: the field is refused for a user read by someone else', async () => {
    const user = { id: 'u1', nickname: null, avatarUrl: null, phoneNumber: null, createdAt: new Date() };
    const theirs = toUserType(user, { userId: 'u2', sessionId: 's2' });
    expect(theirs.viewerSession).toBeNull();
    expect(toUserType(user, { userId: 'u1', sessionId: 's1' }).viewerSession).toBe('s1');
    await expect(new UserResolver().sessions(theirs, {} as Context)).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
    });
  });
});
