import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import {
  APP_LOGIN,
  APPS,
  AUTHORIZE_URL,
  AUTH_SECRET,
  LOGIN_FIELDS,
  MINI_LOGIN,
  startWorld,
  WEB_LOGIN,
  type LoginPayload,
  type World,
} from './support/world.js';
import { encryptUserData } from '../src/wechat/open-data.crypto.js';
import { errorCode } from './support/graphql.js';
import { CURRENT_SIGNING_KEY, openSigningKey, signToken } from './support/signing-keys.js';

const REDIRECT = 'https://site.example/wechat/callback';
const AUTHORIZE_URL_PKCE = `query ($redirectUri: String!, $codeChallenge: String) {
  wechatWebAuthorizeUrl(redirectUri: $redirectUri, codeChallenge: $codeChallenge) { url state }
}`;

let w: World;
/** Every GraphQL response body of this file, scanned for secrets at the end. */
const responses: string[] = [];

async function gql<T>(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>) {
  const body = await w.gql<T>(query, variables, headers);
  responses.push(JSON.stringify(body));
  return body;
}

async function miniLogin(user: string, extra: Record<string, unknown> = {}) {
  const code = await w.code(APPS.mini.appid, user);
  return gql<{ wechatMiniLogin: LoginPayload }>(MINI_LOGIN, { input: { code, ...extra } });
}

async function appLogin(user: string) {
  const code = await w.code(APPS.app.appid, user);
  return gql<{ wechatAppLogin: LoginPayload }>(APP_LOGIN, { input: { code } });
}

async function authorize(redirectUri = REDIRECT) {
  const body = await gql<{ wechatWebAuthorizeUrl: { url: string; state: string } }>(AUTHORIZE_URL, {
    redirectUri,
  });
  return body.data!.wechatWebAuthorizeUrl;
}

async function webLogin(user: string, state?: string, redirectUri?: string) {
  const code = await w.code(APPS.web.appid, user);
  return gql<{ wechatWebLogin: LoginPayload }>(WEB_LOGIN, {
    input: { code, state: state ?? (await authorize()).state, ...(redirectUri ? { redirectUri } : {}) },
  });
}

beforeAll(async () => {
  // A short refresh grace window, so a test can wait it out.
  w = await startWorld({ env: { REFRESH_REUSE_GRACE_SECONDS: '1' } });
});
afterAll(async () => {
  await w?.stop();
});
beforeEach(async () => {
  await w.emulatorPost('/__emulator/reset', {});
});

describe('one account per person', () => {
  it('registers on the first login and finds the same user on the second', async () => {
    const first = (await miniLogin('amy')).data!.wechatMiniLogin;
    expect(first.isNewUser).toBe(true);
    expect(first.user.loginMethods).toEqual([
      {
        kind: 'WECHAT_MINI',
        appId: APPS.mini.appid,
        openId: expect.any(String),
        unionId: expect.any(String),
        lastLoginAt: expect.any(String),
      },
    ]);
    const second = (await miniLogin('amy')).data!.wechatMiniLogin;
    expect(second.isNewUser).toBe(false);
    expect(second.user.id).toBe(first.user.id);
    expect(second.accessToken).not.toBe(first.accessToken);
  });

  it('writes a first login in one statement after the returning check: user, login method, session, refresh token', async () => {
    const knex = w.t.server.database.orm.em.getConnection().getKnex();
    const queries: string[] = [];
    const onQuery = (query: { sql: string }) => queries.push(query.sql);
    knex.on('query', onQuery);
    let first;
    try {
      first = (await miniLogin('abe')).data!.wechatMiniLogin;
    } finally {
      knex.off('query', onQuery);
    }
    expect(first.isNewUser).toBe(true);
    // The returning-user statement finds nobody, then one statement writes everything (the
    // answer's loginMethods are a read of their own).
    const writes = queries.filter((sql) => !/^select\b/i.test(sql.trim()));
    expect(writes).toHaveLength(2);
    expect(writes[0]).toMatch(/update user_login_method/);
    expect(writes[1]).toMatch(/insert into "user"/);
    const [counts] = await w.t.server.database.orm.em.getConnection().execute<{ n: string }[]>(
      `select (select count(*) from user_login_method where user_id = ?) ||
              '/' || (select count(*) from session where user_id = ?) ||
              '/' || (select count(*) from refresh_token t join session s on s.id = t.session_id where s.user_id = ?) as n`,
      [first.user.id, first.user.id, first.user.id],
    );
    expect(counts!.n).toBe('1/1/1');
    // What it wrote works like any session: the refresh token rotates, the person comes back as itself.
    const refreshed = await gql<{ refreshSession: { user: { id: string } } }>(
      `mutation ($t: String!) { refreshSession(refreshToken: $t) { user { id } } }`,
      { t: first.refreshToken },
    );
    expect(refreshed.data!.refreshSession.user.id).toBe(first.user.id);
    const second = (await miniLogin('abe')).data!.wechatMiniLogin;
    expect(second).toMatchObject({ isNewUser: false, user: { id: first.user.id } });
  });

  it('answers the user as stored, createdAt included, after a first login, a returning one, refresh and me', async () => {
    type Answer = { id: string; createdAt: string };
    const first = (await miniLogin('cora')).data!.wechatMiniLogin;
    const again = (await miniLogin('cora')).data!.wechatMiniLogin;
    expect([first.isNewUser, again.isNewUser]).toEqual([true, false]);
    const refreshed = await gql<{ refreshSession: { user: Answer } }>(
      `mutation ($t: String!) { refreshSession(refreshToken: $t) { user { id createdAt } } }`,
      { t: again.refreshToken },
    );
    const me = await gql<{ me: Answer }>('{ me { id createdAt } }', undefined, {
      authorization: `Bearer ${again.accessToken}`,
    });
    const [row] = await w.t.server.database.orm.em.getConnection().execute<{ created_at: string }[]>(
      `select to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as created_at
         from "user" where id = ?`,
      [first.user.id],
    );
    const stored = { id: first.user.id, createdAt: row!.created_at };
    for (const user of [first.user, again.user, refreshed.data!.refreshSession.user, me.data!.me]) {
      expect(user).toMatchObject(stored);
    }
  });

  it('links a mini program login to the web account with the same unionid', async () => {
    await w.emulatorPost('/__emulator/users', {
      key: 'ben',
      nickname: 'Ben',
      avatarUrl: 'https://img.example/ben/132',
    });
    const web = (await webLogin('ben')).data!.wechatWebLogin;
    expect(web.isNewUser).toBe(true);
    expect(web.user.nickname).toBe('Ben');
    expect(web.user.avatarUrl).toBe('https://img.example/ben/132');
    const mini = (await miniLogin('ben')).data!.wechatMiniLogin;
    expect(mini.isNewUser).toBe(false);
    expect(mini.user.id).toBe(web.user.id);
    expect(mini.user.loginMethods.map((m) => m.kind).sort()).toEqual(['WECHAT_MINI', 'WECHAT_WEB']);
    expect(new Set(mini.user.loginMethods.map((m) => m.unionId)).size).toBe(1);
    const app = (await appLogin('ben')).data!.wechatAppLogin;
    expect(app.user.id).toBe(web.user.id);
    expect(app.user.loginMethods).toHaveLength(3);
  });

  it('keeps the avatar the emulator serves (http on loopback) for a person without one of their own', async () => {
    await w.emulatorPost('/__emulator/users', { key: 'bea', nickname: 'Bea' });
    const web = (await webLogin('bea')).data!.wechatWebLogin;
    expect(web.user.avatarUrl).toBe(`${w.emulator.url}/__emulator/avatars/bea.svg`);
    expect(web.user.avatarUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
    const avatar = await fetch(web.user.avatarUrl!);
    expect(avatar.status).toBe(200);
    expect(avatar.headers.get('content-type')).toBe('image/svg+xml');
  });

  it('gives an unbound app its own user, keyed by (appId, openId)', async () => {
    const unbound = await startWorld({ apps: { app: { ...APPS.app, bound: false } } });
    try {
      const login = async (query: string, appid: string) =>
        Object.values(
          (
            await unbound.gql<Record<string, LoginPayload>>(query, {
              input: { code: await unbound.code(appid, 'uma') },
            })
          ).data!,
        )[0]!;
      const mini = await login(MINI_LOGIN, APPS.mini.appid);
      const app = await login(APP_LOGIN, APPS.app.appid);
      expect(app.isNewUser).toBe(true);
      expect(app.otherAccountExists).toBe(false);
      expect(app.user.id).not.toBe(mini.user.id);
      expect(app.user.loginMethods).toEqual([expect.objectContaining({ kind: 'WECHAT_APP', unionId: null })]);
      const again = await login(APP_LOGIN, APPS.app.appid);
      expect(again.isNewUser).toBe(false);
      expect(again.user.id).toBe(app.user.id);
    } finally {
      await unbound.stop();
    }
  });

  it('makes exactly one user from 20 concurrent first logins of one person over the three mutations', async () => {
    const before = await w.counts();
    const logins = await Promise.all(
      Array.from({ length: 20 }, (_, i) => [miniLogin, appLogin, webLogin][i % 3]!('cleo')),
    );
    const ids = logins.map((body) => {
      expect(body.errors).toBeUndefined();
      return Object.values(body.data!)[0]!.user.id;
    });
    expect(new Set(ids).size).toBe(1);
    const newUsers = logins.filter((body) => Object.values(body.data!)[0]!.isNewUser);
    expect(newUsers).toHaveLength(1);
    const after = await w.counts();
    expect(after.users - before.users).toBe(1);
    expect(after.methods - before.methods).toBe(3);
    expect(after.sessions - before.sessions).toBe(20);
  });

  it('keeps a real nickname and avatar from encryptedData, and the session key only encrypted at rest', async () => {
    await w.emulatorPost('/__emulator/users', {
      key: 'dora',
      nickname: 'Dora',
      avatarUrl: 'https://img.example/dora/132',
    });
    const plain = (await miniLogin('dora')).data!.wechatMiniLogin;
    expect(plain.user.nickname).toBeNull();
    const body = await miniLoginWithProfile('dora', { real: true });
    const user = body.data!.wechatMiniLogin.user;
    expect(user.id).toBe(plain.user.id);
    expect(user.nickname).toBe('Dora');
    expect(user.avatarUrl).toBe('https://img.example/dora/132');

    const sessionKey = w.emulator.sessionKeyOf(APPS.mini.appid, 'dora')!;
    const rows = await w.t.server.database.orm.em
      .getConnection()
      .execute<{ access_code: string }[]>(
        `select access_code from user_login_method where app_id = ? and user_id = ?`,
        [APPS.mini.appid, user.id],
      );
    expect(rows[0]!.access_code).toMatch(/^v1\./);
    expect(rows[0]!.access_code).not.toContain(sessionKey);
  });

  it('does not take WeChat’s anonymised profile (“微信用户”, grey avatar) over a real one', async () => {
    await w.emulatorPost('/__emulator/users', {
      key: 'eve',
      nickname: 'Eve',
      avatarUrl: 'https://img.example/eve/132',
    });
    const first = (await webLogin('eve')).data!.wechatWebLogin;
    expect(first.user).toMatchObject({ nickname: 'Eve', avatarUrl: 'https://img.example/eve/132' });
    const body = await miniLoginWithProfile('eve');
    expect(body.errors).toBeUndefined();
    expect(body.data!.wechatMiniLogin.user).toMatchObject({
      id: first.user.id,
      nickname: 'Eve',
      avatarUrl: 'https://img.example/eve/132',
    });
  });

  it('stores neither “微信用户” nor the grey avatar for a new user whose profile is anonymous', async () => {
    const body = await miniLoginWithProfile('gil');
    expect(body.errors).toBeUndefined();
    expect(body.data!.wechatMiniLogin).toMatchObject({
      isNewUser: true,
      user: { nickname: null, avatarUrl: null },
    });
    // rawData alone (signed, not encrypted) carries the same anonymous profile: nothing stored either.
    const again = await miniLoginWithProfile('gil', {
      tamper: (d) => ({ rawData: d.rawData!, signature: d.signature! }),
    });
    expect(again.errors).toBeUndefined();
    expect(again.data!.wechatMiniLogin.user).toMatchObject({ nickname: null, avatarUrl: null });
  });

  it('signs in without a profile when userinfo fails after the code is spent, and fetches it next time', async () => {
    await w.emulatorPost('/__emulator/users', { key: 'finn', nickname: 'Finn' });
    // Every attempt the client makes (it retries 5xx) fails.
    await w.emulatorPost('/__emulator/faults', { path: '/sns/userinfo', status: 502, times: 3 });
    const first = await webLogin('finn');
    expect(first.errors).toBeUndefined();
    expect(first.data!.wechatWebLogin).toMatchObject({ isNewUser: true, user: { nickname: null } });
    expect(first.data!.wechatWebLogin.user.loginMethods[0]!.unionId).toEqual(expect.any(String));
    expect(await w.wechatCalls()).toEqual([
      '/sns/oauth2/access_token',
      '/sns/userinfo',
      '/sns/userinfo',
      '/sns/userinfo',
    ]);

    const second = (await webLogin('finn')).data!.wechatWebLogin;
    expect(second).toMatchObject({
      isNewUser: false,
      user: { id: first.data!.wechatWebLogin.user.id, nickname: 'Finn' },
    });
  });

  it('takes the unionId only from WeChat’s answer, never from encryptedData', async () => {
    const unbound = await startWorld({ apps: { mini: { ...APPS.mini, bound: false } } });
    try {
      const code = await unbound.code(APPS.mini.appid, 'uli');
      const sessionKey = unbound.emulator.sessionKeyOf(APPS.mini.appid, 'uli')!;
      const iv = randomBytes(16);
      const forged = {
        nickName: 'Uli',
        unionId: 'o_forged_union_of_someone_else',
        watermark: { appid: APPS.mini.appid, timestamp: Math.floor(Date.now() / 1000) },
      };
      const body = await unbound.gql<{ wechatMiniLogin: LoginPayload }>(MINI_LOGIN, {
        input: { code, encryptedData: encryptUserData(sessionKey, forged, iv), iv: iv.toString('base64') },
      });
      expect(body.errors).toBeUndefined();
      expect(body.data!.wechatMiniLogin.user.nickname).toBe('Uli');
      expect(body.data!.wechatMiniLogin.user.loginMethods).toEqual([
        expect.objectContaining({ kind: 'WECHAT_MINI', unionId: null }),
      ]);
    } finally {
      await unbound.stop();
    }
  });
});

/** wx.login, then wx.getUserProfile, then wechatMiniLogin with all of it, as a mini program does. */
async function miniLoginWithProfile(
  user: string,
  {
    real = false,
    tamper = (d) => d,
  }: {
    /** The person's real nickname and avatar (WeChat before 2022); else anonymous, as WeChat's are now. */
    real?: boolean;
    tamper?: (data: Record<string, string>) => Record<string, string>;
  } = {},
) {
  const code = await w.code(APPS.mini.appid, user);
  const data = await w.emulatorPost<Record<string, string>>('/__emulator/encrypted-data', {
    appid: APPS.mini.appid,
    user,
    real,
  });
  return gql<{ wechatMiniLogin: LoginPayload }>(MINI_LOGIN, { input: { code, ...tamper(data) } });
}

describe('codes WeChat rejects', () => {
  it('answers used, expired and foreign codes with WECHAT_INVALID_CODE and writes no row', async () => {
    const used = await w.code(APPS.mini.appid, 'fay');
    await gql(MINI_LOGIN, { input: { code: used } });
    const webCode = await w.code(APPS.app.appid, 'gus');
    await gql(APP_LOGIN, { input: { code: webCode } });
    const before = await w.counts();

    const reused = await gql(MINI_LOGIN, { input: { code: used } });
    expect(errorCode(reused)).toBe('WECHAT_INVALID_CODE');
    expect(reused.errors![0]!.extensions!.wechatErrcode).toBe(40163);
    expect(errorCode(await gql(APP_LOGIN, { input: { code: webCode } }))).toBe('WECHAT_INVALID_CODE');

    const expired = await w.code(APPS.app.appid, 'hal');
    await w.emulatorPost('/__emulator/clock', { advanceMs: 5 * 60_000 + 1000 });
    const body = await gql(APP_LOGIN, { input: { code: expired } });
    expect(errorCode(body)).toBe('WECHAT_INVALID_CODE');
    expect(body.errors![0]!.extensions!.wechatErrcode).toBe(42003);

    const foreign = await w.code(APPS.app.appid, 'ida');
    expect(errorCode(await gql(MINI_LOGIN, { input: { code: foreign } }))).toBe('WECHAT_INVALID_CODE');

    expect(await w.counts()).toEqual(before);
  });

  it('answers PLATFORM_NOT_CONFIGURED for a platform without appid/secret', async () => {
    const only = await startWorld({ env: { WECHAT_APP_APPID: '', WECHAT_APP_SECRET: '' } });
    try {
      const body = await only.gql(APP_LOGIN, { input: { code: 'abc' } });
      expect(body.errors![0]!.extensions!.code).toBe('PLATFORM_NOT_CONFIGURED');
      expect(await only.wechatCalls()).toEqual([]);
    } finally {
      await only.stop();
    }
  });
});

describe('web login state', () => {
  it('builds the QR-connect URL in WeChat’s parameter order with a state bound to the redirect URI', async () => {
    const { url, state } = await authorize();
    expect(url).toBe(
      `${w.emulator.url}/connect/qrconnect?appid=${APPS.web.appid}&redirect_uri=${encodeURIComponent(REDIRECT)}` +
        `&response_type=code&scope=snsapi_login&state=${encodeURIComponent(state)}#wechat_redirect`,
    );
    // WeChat's rule for state: at most 128 characters of a-zA-Z0-9.
    expect(state).toMatch(/^[a-zA-Z0-9]{1,128}$/);
  });

  // The second is README's web login by hand: any http(s) redirect URI in development.
  it.each([REDIRECT, 'http://localhost:4000/callback'])(
    'logs in through the emulator’s QR page: confirm redirects to %s with code and state',
    async (redirectUri) => {
      const { url, state } = await authorize(redirectUri);
      const page = await fetch(url);
      expect(page.status).toBe(200);
      const confirm = await fetch(`${w.emulator.url}/connect/confirm`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          appid: APPS.web.appid,
          redirect_uri: redirectUri,
          scope: 'snsapi_login',
          state,
          user: 'jay',
          action: 'confirm',
        }),
        redirect: 'manual',
      });
      expect(confirm.status).toBe(302);
      const back = new URL(confirm.headers.get('location')!);
      expect(`${back.origin}${back.pathname}`).toBe(redirectUri);
      expect(back.searchParams.get('state')).toBe(state);
      expect(back.searchParams.get('code')).toMatch(/^[0-9a-f]{32}$/);
      const body = await gql<{ wechatWebLogin: LoginPayload }>(WEB_LOGIN, {
        input: { code: back.searchParams.get('code'), state, redirectUri },
      });
      expect(body.data!.wechatWebLogin.user.nickname).toBe('jay');
    },
  );

  it('rejects a forged, reused, missing or other-redirect state with INVALID_STATE, without calling WeChat', async () => {
    const { state } = await authorize();
    const forged = state.slice(0, -4) + (state.endsWith('aaaa') ? 'bbbb' : 'aaaa');
    // S3 + nonce (32) + expiry (7, base36) + …: an hour more of life, under the old signature.
    const expiry = state.slice(34, 41);
    const reExpired =
      state.slice(0, 34) + (parseInt(expiry, 36) + 3600).toString(36).padStart(7, '0') + state.slice(41);
    await w.emulatorPost('/__emulator/reset', {});
    const code = await w.code(APPS.web.appid, 'kim');
    for (const bad of [forged, reExpired, '', `S2${'0'.repeat(103)}`, 'not a state']) {
      expect(errorCode(await gql(WEB_LOGIN, { input: { code, state: bad } }))).toBe('INVALID_STATE');
    }
    expect(
      errorCode(await gql(WEB_LOGIN, { input: { code, state, redirectUri: 'https://evil.example/cb' } })),
    ).toBe('INVALID_STATE');
    expect(await w.wechatCalls()).toEqual([]);

    expect(
      errorCode(await gql(WEB_LOGIN, { input: { code, state, redirectUri: REDIRECT } })),
    ).toBeUndefined();
    const again = await w.code(APPS.web.appid, 'kim');
    const reused = await gql(WEB_LOGIN, { input: { code: again, state } });
    expect(errorCode(reused)).toBe('INVALID_STATE');
    expect(reused.errors![0]!.message).toMatch(/already been used/);
    expect(await w.wechatCalls()).toEqual(['/sns/oauth2/access_token', '/sns/userinfo']);
    // A missing state is refused by the schema (a required variable field).
    expect(errorCode(await gql(WEB_LOGIN, { input: { code: again } }))).toBe('BAD_USER_INPUT');
  });

  it('binds a state to its PKCE codeChallenge: only the matching codeVerifier finishes the login', async () => {
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const withChallenge = async () =>
      (
        await gql<{ wechatWebAuthorizeUrl: { state: string } }>(AUTHORIZE_URL_PKCE, {
          redirectUri: REDIRECT,
          codeChallenge: challenge,
        })
      ).data!.wechatWebAuthorizeUrl.state;
    const login = async (state: string, codeVerifier?: string) =>
      gql<{ wechatWebLogin: LoginPayload }>(WEB_LOGIN, {
        input: { code: await w.code(APPS.web.appid, 'pia'), state, redirectUri: REDIRECT, codeVerifier },
      });

    // Someone else's login link lands in this browser: its verifier is not the one of the state.
    const planted = await withChallenge();
    const otherVerifier = randomBytes(32).toString('base64url');
    const wrong = await login(planted, otherVerifier);
    expect(errorCode(wrong)).toBe('INVALID_STATE');
    expect(wrong.errors![0]!.message).toMatch(/codeVerifier does not match/);
    const missing = await login(planted);
    expect(errorCode(missing)).toBe('INVALID_STATE');
    expect(missing.errors![0]!.message).toMatch(/send its codeVerifier/);
    // A careful client sends its verifier; a state minted without a challenge cannot answer it.
    const plain = await login((await authorize()).state, verifier);
    expect(errorCode(plain)).toBe('INVALID_STATE');
    expect(await w.wechatCalls()).toEqual([]);

    const ok = await login(planted, verifier);
    expect(ok.errors).toBeUndefined();
    expect(ok.data!.wechatWebLogin.isNewUser).toBe(true);

    // Malformed PKCE values are input errors naming the field.
    const badChallenge = await gql(AUTHORIZE_URL_PKCE, { redirectUri: REDIRECT, codeChallenge: 'short' });
    expect(errorCode(badChallenge)).toBe('BAD_USER_INPUT');
    expect(badChallenge.errors![0]!.extensions!.field).toBe('codeChallenge');
    const badVerifier = await login(await withChallenge(), 'has spaces and is far too short');
    expect(errorCode(badVerifier)).toBe('BAD_USER_INPUT');
    expect(badVerifier.errors![0]!.extensions!.field).toBe('codeVerifier');
  });

  it('rejects an expired state', async () => {
    const short = await startWorld({ env: { WEB_STATE_TTL_SECONDS: '1' } });
    try {
      const { state } = (
        await short.gql<{ wechatWebAuthorizeUrl: { state: string } }>(AUTHORIZE_URL, {
          redirectUri: REDIRECT,
        })
      ).data!.wechatWebAuthorizeUrl;
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const body = await short.gql(WEB_LOGIN, {
        input: { code: await short.code(APPS.web.appid, 'lea'), state },
      });
      expect(errorCode(body)).toBe('INVALID_STATE');
      expect(body.errors![0]!.message).toMatch(/expired/);
      expect(await short.wechatCalls()).toEqual([]);
    } finally {
      await short.stop();
    }
  });

  it('only issues states for redirect URIs on WECHAT_WEB_REDIRECT_URIS', async () => {
    const listed = await startWorld({
      env: { WECHAT_WEB_REDIRECT_URIS: `${REDIRECT},https://other.example/cb` },
    });
    try {
      const ok = await listed.gql(AUTHORIZE_URL, { redirectUri: REDIRECT });
      expect(ok.errors).toBeUndefined();
      const bad = await listed.gql(AUTHORIZE_URL, { redirectUri: 'https://evil.example/cb' });
      expect(errorCode(bad)).toBe('INVALID_STATE');
    } finally {
      await listed.stop();
    }
  });
});

describe('mini program profile data', () => {
  it('rejects tampered encryptedData with WECHAT_DECRYPT_FAILED and writes no row', async () => {
    const before = await w.counts();
    const body = await miniLoginWithProfile('max', {
      tamper: (d) => {
        const bytes = Buffer.from(d.encryptedData!, 'base64');
        bytes[bytes.length - 20]! ^= 0xff;
        return { encryptedData: bytes.toString('base64'), iv: d.iv! };
      },
    });
    expect(errorCode(body)).toBe('WECHAT_DECRYPT_FAILED');
    expect(await w.counts()).toEqual(before);
  });

  it('rejects encryptedData of another person (or another app’s key) with WECHAT_DECRYPT_FAILED', async () => {
    await w.code(APPS.mini.appid, 'ned');
    const nedsData = await w.emulatorPost<Record<string, string>>('/__emulator/encrypted-data', {
      appid: APPS.mini.appid,
      user: 'ned',
    });
    const code = await w.code(APPS.mini.appid, 'oli');
    const body = await gql(MINI_LOGIN, {
      input: { code, encryptedData: nedsData.encryptedData, iv: nedsData.iv },
    });
    expect(errorCode(body)).toBe('WECHAT_DECRYPT_FAILED');
  });

  it('rejects a wrong rawData signature with WECHAT_SIGNATURE_MISMATCH', async () => {
    const body = await miniLoginWithProfile('pam', {
      tamper: (d) => ({ rawData: d.rawData!, signature: '0'.repeat(40) }),
    });
    expect(errorCode(body)).toBe('WECHAT_SIGNATURE_MISMATCH');
    const good = await miniLoginWithProfile('pam', {
      tamper: (d) => ({ rawData: d.rawData!, signature: d.signature! }),
    });
    expect(good.errors).toBeUndefined();
  });

  it.each([
    [{ encryptedData: 'AAAA' }, 'iv'],
    [{ iv: 'AAAAAAAAAAAAAAAAAAAAAA==' }, 'encryptedData'],
    [{ rawData: '{}' }, 'signature'],
    [{ encryptedData: 'not base64!', iv: 'AAAAAAAAAAAAAAAAAAAAAA==' }, 'encryptedData'],
    [{ encryptedData: 'AAAAAAAAAAAAAAAAAAAAAA==', iv: 'AAAA' }, 'iv'],
    [{ rawData: '{}', signature: 'xyz' }, 'signature'],
  ])('answers %j with BAD_USER_INPUT naming %s, before calling WeChat', async (extra, field) => {
    const body = await gql(MINI_LOGIN, { input: { code: 'somecode', ...extra } });
    expect(errorCode(body)).toBe('BAD_USER_INPUT');
    expect(body.errors![0]!.extensions!.field).toBe(field);
    expect(await w.wechatCalls()).toEqual([]);
  });

  it.each([[''], ['x'.repeat(300)], ['code with space'], ['码']])(
    'answers code %j with BAD_USER_INPUT',
    async (code) => {
      expect(errorCode(await gql(MINI_LOGIN, { input: { code } }))).toBe('BAD_USER_INPUT');
    },
  );
});

describe('sessions', () => {
  const ME = `query { me { id nickname loginMethods { kind } } }`;
  const REFRESH = `mutation ($t: String!) { refreshSession(refreshToken: $t) { ${LOGIN_FIELDS} } }`;
  const LOGOUT = `mutation { logout }`;
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  it('answers me with the bearer’s user, null without a token, UNAUTHENTICATED for a forged one', async () => {
    const login = (await miniLogin('quinn')).data!.wechatMiniLogin;
    const me = await gql<{ me: { id: string } }>(ME, {}, bearer(login.accessToken));
    expect(me.data!.me.id).toBe(login.user.id);
    expect((await gql(ME)).data).toEqual({ me: null });
    const forged = login.accessToken.slice(0, -2) + (login.accessToken.endsWith('AA') ? 'BB' : 'AA');
    expect(errorCode(await gql(ME, {}, bearer(forged)))).toBe('UNAUTHENTICATED');
    expect(errorCode(await gql(ME, {}, { authorization: 'Basic abc' }))).toBe('UNAUTHENTICATED');
    const [row] = await w.t.server.database.orm.em
      .getConnection()
      .execute<Array<{ kid: string; private_key: string }>>(CURRENT_SIGNING_KEY);
    const expired = await signToken(await openSigningKey(row!, AUTH_SECRET), {
      sid: 'x',
      sub: login.user.id,
      iss: w.t.server.config.accessTokens.issuer,
      aud: w.t.server.config.accessTokens.audience,
      exp: Math.floor(Date.now() / 1000) - 10,
    });
    const body = await gql(ME, {}, bearer(expired));
    expect(errorCode(body)).toBe('UNAUTHENTICATED');
    expect(body.errors![0]!.message).toMatch(/expired/);
  });

  it('rotates the refresh token; reusing an old one after the grace window revokes the whole session', async () => {
    const login = (await miniLogin('ray')).data!.wechatMiniLogin;
    const first = await gql<{ refreshSession: LoginPayload }>(REFRESH, { t: login.refreshToken });
    const rotated = first.data!.refreshSession;
    expect(rotated.user.id).toBe(login.user.id);
    expect(rotated.isNewUser).toBe(false);
    expect(rotated.refreshToken).not.toBe(login.refreshToken);
    expect((await gql<{ me: { id: string } }>(ME, {}, bearer(rotated.accessToken))).data!.me.id).toBe(
      login.user.id,
    );

    // The old token again at once (a retry after a lost answer): fresh tokens, same session.
    const retry = (await gql<{ refreshSession: LoginPayload }>(REFRESH, { t: login.refreshToken })).data!
      .refreshSession;
    expect(retry.user.id).toBe(login.user.id);
    expect(retry.refreshToken).not.toBe(rotated.refreshToken);

    // The old token again after the window: theft detected, the session ends for everyone holding it.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(errorCode(await gql(REFRESH, { t: login.refreshToken }))).toBe('UNAUTHENTICATED');
    expect(errorCode(await gql(REFRESH, { t: retry.refreshToken }))).toBe('UNAUTHENTICATED');
    expect(errorCode(await gql(REFRESH, { t: rotated.refreshToken }))).toBe('UNAUTHENTICATED');
    expect(errorCode(await gql(ME, {}, bearer(rotated.accessToken)))).toBe('UNAUTHENTICATED');
    expect(errorCode(await gql(REFRESH, { t: 'rt_nonsense' }))).toBe('UNAUTHENTICATED');
  });

  it('gives each of ten concurrent refreshes of one token fresh tokens for the same session', async () => {
    const login = (await miniLogin('tabs')).data!.wechatMiniLogin;
    const before = await w.counts();
    const answers = await Promise.all(
      Array.from({ length: 10 }, () =>
        gql<{ refreshSession: LoginPayload }>(REFRESH, { t: login.refreshToken }),
      ),
    );
    const refreshed = answers.map((body) => {
      expect(body.errors).toBeUndefined();
      return body.data!.refreshSession;
    });
    expect(new Set(refreshed.map((r) => r.user.id))).toEqual(new Set([login.user.id]));
    expect(new Set(refreshed.map((r) => r.refreshToken)).size).toBe(10);
    expect((await w.counts()).sessions).toBe(before.sessions);
    for (const r of refreshed) {
      expect((await gql<{ me: { id: string } }>(ME, {}, bearer(r.accessToken))).data!.me.id).toBe(
        login.user.id,
      );
    }
  });

  it('logs out: the access and refresh tokens of that session stop working, others keep working', async () => {
    const a = (await miniLogin('sam')).data!.wechatMiniLogin;
    const b = (await miniLogin('sam')).data!.wechatMiniLogin;
    expect((await gql<{ logout: boolean }>(LOGOUT, {}, bearer(a.accessToken))).data!.logout).toBe(true);
    expect(errorCode(await gql(ME, {}, bearer(a.accessToken)))).toBe('UNAUTHENTICATED');
    expect(errorCode(await gql(REFRESH, { t: a.refreshToken }))).toBe('UNAUTHENTICATED');
    expect((await gql<{ me: { id: string } }>(ME, {}, bearer(b.accessToken))).data!.me.id).toBe(a.user.id);
    expect(errorCode(await gql(LOGOUT))).toBe('UNAUTHENTICATED');
  });

  it('logs out with the refresh token alone, current or rotated, and again after that', async () => {
    const LOGOUT_WITH = `mutation ($t: String) { logout(refreshToken: $t) }`;
    // A client whose access token has expired holds only its refresh token.
    const a = (await miniLogin('sol')).data!.wechatMiniLogin;
    const out = await gql<{ logout: boolean }>(LOGOUT_WITH, { t: a.refreshToken });
    expect(out).toEqual({ data: { logout: true } });
    expect(errorCode(await gql(ME, {}, bearer(a.accessToken)))).toBe('UNAUTHENTICATED');
    expect(errorCode(await gql(REFRESH, { t: a.refreshToken }))).toBe('UNAUTHENTICATED');
    // The answer was lost and the client logs out again: still true.
    expect(await gql(LOGOUT_WITH, { t: a.refreshToken })).toEqual({ data: { logout: true } });

    // The token a refresh replaced still names its session.
    const b = (await miniLogin('sol')).data!.wechatMiniLogin;
    const refreshed = (await gql<{ refreshSession: LoginPayload }>(REFRESH, { t: b.refreshToken })).data!
      .refreshSession;
    expect(await gql(LOGOUT_WITH, { t: b.refreshToken })).toEqual({ data: { logout: true } });
    expect(errorCode(await gql(REFRESH, { t: refreshed.refreshToken }))).toBe('UNAUTHENTICATED');
    expect(errorCode(await gql(ME, {}, bearer(refreshed.accessToken)))).toBe('UNAUTHENTICATED');

    // A token no session ever had, and no token at all.
    const unknown = await gql(LOGOUT_WITH, { t: `rt_${'x'.repeat(43)}` });
    expect(errorCode(unknown)).toBe('UNAUTHENTICATED');
    expect(errorCode(await gql(LOGOUT_WITH, { t: null }))).toBe('UNAUTHENTICATED');
  });
});

describe('loginMethods', () => {
  it('costs one query per request, however many fields ask for it', async () => {
    const login = (await miniLogin('lena')).data!.wechatMiniLogin;
    await appLogin('lena');
    const aliases = Array.from({ length: 50 }, (_, i) => `m${i}: me { loginMethods { kind } }`).join(' ');
    const knex = w.t.server.database.orm.em.getConnection().getKnex();
    const queries: string[] = [];
    const onQuery = (query: { sql: string }) => queries.push(query.sql);
    knex.on('query', onQuery);
    let body;
    try {
      body = await gql<Record<string, { loginMethods: { kind: string }[] }>>(
        `query { ${aliases} }`,
        {},
        {
          authorization: `Bearer ${login.accessToken}`,
        },
      );
    } finally {
      knex.off('query', onQuery);
    }
    expect(body.errors).toBeUndefined();
    expect(Object.keys(body.data!)).toHaveLength(50);
    for (const me of Object.values(body.data!)) {
      expect(me.loginMethods.map((m) => m.kind)).toEqual(['WECHAT_MINI', 'WECHAT_APP']);
    }
    expect(queries.filter((sql) => sql.includes('user_login_method'))).toHaveLength(1);
  });
});

describe('secrets', () => {
  it('never puts a session key, app secret, WeChat token, refresh token, AUTH_SECRET or JWT in a log line, nor WeChat secrets in a response', async () => {
    const login = (await miniLogin('tia')).data!.wechatMiniLogin;
    await webLogin('tia');
    await appLogin('tia');
    await gql(`mutation ($t: String!) { refreshSession(refreshToken: $t) { accessToken } }`, {
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
