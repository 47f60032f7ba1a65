import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { clientOf, type Client } from './support/client.js';
import { errorCode } from './support/graphql.js';
import { expectNoSecretsIn } from './support/secrets.js';
import { APPS, startWorld, WEB_LOGIN, type World } from './support/world.js';

/**
 * Logins (test/login.test.ts in parts): the website's QR login state, PKCE and redirect URIs.
 */
const REDIRECT = 'https://site.example/wechat/callback';

let w: World;
let c: Client;
/** Every GraphQL response body of this file: none carries a secret (test/login-sessions.test.ts scans its own and the log). */
const responses: string[] = [];

beforeAll(async () => {
  // A short refresh grace window, so a test can wait it out.
  w = await startWorld({ env: { REFRESH_REUSE_GRACE_SECONDS: '1' } });
  c = clientOf(w, { onBody: (body) => responses.push(JSON.stringify(body)) });
});
afterAll(async () => {
  try {
    if (w) expectNoSecretsIn(w, responses);
  } finally {
    await w?.stop();
  }
});
beforeEach(async () => {
  await w.emulatorPost('/__emulator/reset', {});
});

const authorize = async (redirectUri = REDIRECT) =>
  (await c.run('WechatWebAuthorizeUrl', { redirectUri })).data!.wechatWebAuthorizeUrl;

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
      const body = await c.run('WechatWebLogin', {
        input: { code: back.searchParams.get('code')!, state, redirectUri },
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
      expect(errorCode(await c.gql(WEB_LOGIN, { input: { code, state: bad } }))).toBe('INVALID_STATE');
    }
    expect(
      errorCode(await c.gql(WEB_LOGIN, { input: { code, state, redirectUri: 'https://evil.example/cb' } })),
    ).toBe('INVALID_STATE');
    expect(await w.wechatCalls()).toEqual([]);

    expect(
      errorCode(await c.gql(WEB_LOGIN, { input: { code, state, redirectUri: REDIRECT } })),
    ).toBeUndefined();
    const again = await w.code(APPS.web.appid, 'kim');
    const reused = await c.gql(WEB_LOGIN, { input: { code: again, state } });
    expect(errorCode(reused)).toBe('INVALID_STATE');
    expect(reused.errors![0]!.message).toMatch(/already been used/);
    expect(await w.wechatCalls()).toEqual(['/sns/oauth2/access_token', '/sns/userinfo']);
    // A missing state is refused by the schema (a required variable field).
    expect(errorCode(await c.gql(WEB_LOGIN, { input: { code: again } }))).toBe('BAD_USER_INPUT');
  });

  it('binds a state to its PKCE codeChallenge: only the matching codeVerifier finishes the login', async () => {
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const withChallenge = async () =>
      (
        await c.run('WechatWebAuthorizeUrl', {
          redirectUri: REDIRECT,
          codeChallenge: challenge,
        })
      ).data!.wechatWebAuthorizeUrl.state;
    const login = async (state: string, codeVerifier?: string) =>
      c.run('WechatWebLogin', {
        input: { code: await c.code('web', 'pia'), state, redirectUri: REDIRECT, codeVerifier },
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
    const badChallenge = await c.run('WechatWebAuthorizeUrl', {
      redirectUri: REDIRECT,
      codeChallenge: 'short',
    });
    expect(errorCode(badChallenge)).toBe('BAD_USER_INPUT');
    expect(badChallenge.errors![0]!.extensions!.field).toBe('codeChallenge');
    const badVerifier = await login(await withChallenge(), 'has spaces and is far too short');
    expect(errorCode(badVerifier)).toBe('BAD_USER_INPUT');
    expect(badVerifier.errors![0]!.extensions!.field).toBe('codeVerifier');
  });

  it('rejects an expired state', async () => {
    const short = await startWorld({ env: { WEB_STATE_TTL_SECONDS: '1' } });
    try {
      const s = clientOf(short);
      const state = await s.state('web');
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const body = await s.login('web', 'lea', { state });
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
      const l = clientOf(listed);
      const ok = await l.run('WechatWebAuthorizeUrl', { redirectUri: REDIRECT });
      expect(ok.errors).toBeUndefined();
      const bad = await l.run('WechatWebAuthorizeUrl', { redirectUri: 'https://evil.example/cb' });
      expect(errorCode(bad)).toBe('INVALID_STATE');
    } finally {
      await listed.stop();
    }
  });
});
