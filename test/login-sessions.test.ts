import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { bearer, clientOf, type Client } from './support/client.js';
import { errorCode } from './support/graphql.js';
import { CURRENT_SIGNING_KEY, openSigningKey, signToken } from './support/signing-keys.js';
import { AUTH_SECRET, startWorld, type World } from './support/world.js';

/**
 * Logins (test/login.test.ts in parts): sessions after a login (me, refresh, logout), and no
 * secret in a log line or a response.
 */
let w: World;
let c: Client;
/** Every GraphQL response body of this file, scanned for secrets at the end. */
const responses: string[] = [];

beforeAll(async () => {
  // A short refresh grace window, so a test can wait it out.
  w = await startWorld({ env: { REFRESH_REUSE_GRACE_SECONDS: '1' } });
  c = clientOf(w, { onBody: (body) => responses.push(JSON.stringify(body)) });
});
afterAll(async () => {
  await w?.stop();
});
beforeEach(async () => {
  await w.emulatorPost('/__emulator/reset', {});
});

describe('sessions', () => {
  const LOGOUT = `mutation { logout }`;

  it('answers me with the bearer’s user, null without a token, UNAUTHENTICATED for a forged one', async () => {
    const login = (await c.login('mini', 'quinn')).data!.wechatMiniLogin;
    const me = await c.me(login.accessToken);
    expect(me.data!.me!.id).toBe(login.user.id);
    expect((await c.me()).data).toEqual({ me: null });
    const forged = login.accessToken.slice(0, -2) + (login.accessToken.endsWith('AA') ? 'BB' : 'AA');
    expect(errorCode(await c.me(forged))).toBe('UNAUTHENTICATED');
    expect(errorCode(await c.run('Me', {}, { authorization: 'Basic abc' }))).toBe('UNAUTHENTICATED');
    const [row] = await c.sql<{ kid: string; private_key: string }>(CURRENT_SIGNING_KEY);
    const expired = await signToken(await openSigningKey(row!, AUTH_SECRET), {
      sid: 'x',
      sub: login.user.id,
      iss: w.t.server.config.accessTokens.issuer,
      aud: w.t.server.config.accessTokens.audience,
      exp: Math.floor(Date.now() / 1000) - 10,
    });
    const body = await c.me(expired);
    expect(errorCode(body)).toBe('UNAUTHENTICATED');
    expect(body.errors![0]!.message).toMatch(/expired/);
  });

  it('rotates the refresh token; reusing an old one after the grace window revokes the whole session', async () => {
    const login = (await c.login('mini', 'ray')).data!.wechatMiniLogin;
    const first = await c.refresh(login.refreshToken);
    const rotated = first.data!.refreshSession;
    expect(rotated.user.id).toBe(login.user.id);
    expect(rotated.isNewUser).toBe(false);
    expect(rotated.refreshToken).not.toBe(login.refreshToken);
    expect((await c.me(rotated.accessToken)).data!.me!.id).toBe(login.user.id);

    // The old token again at once (a retry after a lost answer): fresh tokens, same session.
    const retry = (await c.refresh(login.refreshToken)).data!.refreshSession;
    expect(retry.user.id).toBe(login.user.id);
    expect(retry.refreshToken).not.toBe(rotated.refreshToken);

    // The old token again after the window: theft detected, the session ends for everyone holding it.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(errorCode(await c.refresh(login.refreshToken))).toBe('UNAUTHENTICATED');
    expect(errorCode(await c.refresh(retry.refreshToken))).toBe('UNAUTHENTICATED');
    expect(errorCode(await c.refresh(rotated.refreshToken))).toBe('UNAUTHENTICATED');
    expect(errorCode(await c.me(rotated.accessToken))).toBe('UNAUTHENTICATED');
    expect(errorCode(await c.refresh('rt_nonsense'))).toBe('UNAUTHENTICATED');
  });

  it('gives each of ten concurrent refreshes of one token fresh tokens for the same session', async () => {
    const login = (await c.login('mini', 'tabs')).data!.wechatMiniLogin;
    const before = await w.counts();
    const answers = await Promise.all(Array.from({ length: 10 }, () => c.refresh(login.refreshToken)));
    const refreshed = answers.map((body) => {
      expect(body.errors).toBeUndefined();
      return body.data!.refreshSession;
    });
    expect(new Set(refreshed.map((r) => r.user.id))).toEqual(new Set([login.user.id]));
    expect(new Set(refreshed.map((r) => r.refreshToken)).size).toBe(10);
    expect((await w.counts()).sessions).toBe(before.sessions);
    for (const r of refreshed) {
      expect((await c.me(r.accessToken)).data!.me!.id).toBe(login.user.id);
    }
  });

  it('logs out: the access and refresh tokens of that session stop working, others keep working', async () => {
    const a = (await c.login('mini', 'sam')).data!.wechatMiniLogin;
    const b = (await c.login('mini', 'sam')).data!.wechatMiniLogin;
    expect((await c.gql<{ logout: boolean }>(LOGOUT, {}, bearer(a.accessToken))).data!.logout).toBe(true);
    expect(errorCode(await c.me(a.accessToken))).toBe('UNAUTHENTICATED');
    expect(errorCode(await c.refresh(a.refreshToken))).toBe('UNAUTHENTICATED');
    expect((await c.me(b.accessToken)).data!.me!.id).toBe(a.user.id);
    expect(errorCode(await c.gql(LOGOUT))).toBe('UNAUTHENTICATED');
  });

  it('logs out with the refresh token alone, current or rotated, and again after that', async () => {
    const LOGOUT_WITH = `mutation ($t: String) { logout(refreshToken: $t) }`;
    // A client whose access token has expired holds only its refresh token.
    const a = (await c.login('mini', 'sol')).data!.wechatMiniLogin;
    const out = await c.gql<{ logout: boolean }>(LOGOUT_WITH, { t: a.refreshToken });
    expect(out).toEqual({ data: { logout: true } });
    expect(errorCode(await c.me(a.accessToken))).toBe('UNAUTHENTICATED');
    expect(errorCode(await c.refresh(a.refreshToken))).toBe('UNAUTHENTICATED');
    // The answer was lost and the client logs out again: still true.
    expect(await c.gql(LOGOUT_WITH, { t: a.refreshToken })).toEqual({ data: { logout: true } });

    // The token a refresh replaced still names its session.
    const b = (await c.login('mini', 'sol')).data!.wechatMiniLogin;
    const refreshed = (await c.refresh(b.refreshToken)).data!.refreshSession;
    expect(await c.gql(LOGOUT_WITH, { t: b.refreshToken })).toEqual({ data: { logout: true } });
    expect(errorCode(await c.refresh(refreshed.refreshToken))).toBe('UNAUTHENTICATED');
    expect(errorCode(await c.me(refreshed.accessToken))).toBe('UNAUTHENTICATED');

    // A token no session ever had, and no token at all.
    const unknown = await c.gql(LOGOUT_WITH, { t: `rt_${'x'.repeat(43)}` });
    expect(errorCode(unknown)).toBe('UNAUTHENTICATED');
    expect(errorCode(await c.gql(LOGOUT_WITH, { t: null }))).toBe('UNAUTHENTICATED');
  });
});

describe('secrets', () => {
  it('never puts a session key, app secret, WeChat token, refresh token, AUTH_SECRET or JWT in a log line, nor WeChat secrets in a response', async () => {
    const login = (await c.login('mini', 'tia')).data!.wechatMiniLogin;
    await c.login('web', 'tia');
    await c.login('app', 'tia');
    await c.gql(`mutation ($t: String!) { refreshSession(refreshToken: $t) { accessToken } }`, {
      t: login.refreshToken,
    });
    const issued = w.emulator.issuedSecrets();
    expect(issued.length).toBeGreaterThan(5);
    const log = w.t.log.text();
    expect(w.t.log.lines.length).toBeGreaterThan(10);
    for (const secret of [...issued, AUTH_SECRET]) {
      expect(log).not.toContain(secret);
      for (const body of responses) expect(body).not.toContain(secret);
    }
    const ours = responses.flatMap((body) =>
      [...body.matchAll(/"(?:accessToken|refreshToken)":"([^"]+)"/g)].map((m) => m[1]!),
    );
    expect(ours.length).toBeGreaterThan(10);
    for (const token of ours) expect(log).not.toContain(token);
  });
});
