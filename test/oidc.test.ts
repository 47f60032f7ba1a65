import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as jose from 'jose';
import * as oidc from 'openid-client';
import { AdminKeys } from '../src/admin/admin-keys.js';
import { SecretBox } from '../src/crypto/secret-box.js';
import { SigningKeyRepository } from '../src/keys/signing-key.repository.js';
import { newSealedSigningKey, SigningKeys } from '../src/keys/signing-keys.js';
import { eventually } from './support/eventually.js';
import { bearer, clientOf, type Client } from './support/client.js';
import { emulatorControl } from './support/emulator.js';
import {
  relyingParty,
  signInWithTicket,
  signInWithWebQr,
  TestBrowser,
  type RelyingParty,
} from './support/oidc-browser.js';
import { freePort } from './support/process.js';
import { eventXml, sendPush, signPush, type PushAccount } from './support/pushes.js';
import { sqlOf } from './support/sql.js';
import { APPS, AUTH_SECRET, startWorld, type World } from './support/world.js';

const RP = 'https://rp.example';
const CLIENTS = [
  {
    clientId: 'first-party',
    clientSecret: 'first-party-secret-0123456789abcdef',
    redirectUris: [`${RP}/callback`],
    postLogoutRedirectUris: [`${RP}/signed-out`],
    name: 'Our Own App',
    firstParty: true,
  },
  {
    clientId: 'third-party',
    clientSecret: 'third-party-secret-0123456789abcdef',
    redirectUris: [`${RP}/third/callback`],
    name: 'Partner <App>',
    tokenEndpointAuthMethod: 'client_secret_post',
  },
  {
    clientId: 'spa',
    redirectUris: ['http://127.0.0.1:5173/callback'],
    name: 'Browser App',
    firstParty: true,
  },
];

/** The Official Account's push settings (plain mode: a test environment). */
const FOLLOW: PushAccount = { appid: APPS.official.appid, token: 'oidcFollowToken1' };

let w: World;
let c: Client;
let issuer: string;
let first: RelyingParty;

beforeAll(async () => {
  const port = await freePort();
  issuer = `http://127.0.0.1:${port}`;
  w = await startWorld({
    env: {
      PORT: String(port),
      PUBLIC_URL: issuer,
      OIDC_CLIENTS: JSON.stringify(CLIENTS),
      SIGNING_KEY_REFRESH_SECONDS: '1',
      WECHAT_OA_TOKEN: FOLLOW.token,
    },
  });
  c = clientOf(w);
  first = await relyingParty(issuer, { ...CLIENTS[0]!, redirectUri: `${RP}/callback` });
});

afterAll(async () => {
  await w?.stop();
});

/** The OpenID Connect objects stored of a user (sessions, grants, codes, tokens). */
async function oidcRowsOf(userId: string): Promise<number> {
  const [row] = await sqlOf(w.t)<{ n: number }>(
    'select count(*)::int as n from oidc_payload where account_id = ?',
    [userId],
  );
  return row!.n;
}

let adminKey: string | undefined;
/** An admin API call about one user with a write key; its errors (undefined: none). */
async function admin(query: string, id: string): Promise<unknown> {
  adminKey ??= (await AdminKeys.create(w.t.server.database.orm.em.fork(), 'oidc-test', 'write')).key;
  const answer = await fetch(`${issuer}/admin/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${adminKey}` },
    body: JSON.stringify({ query, variables: { id } }),
  });
  return ((await answer.json()) as { errors?: unknown }).errors;
}

/** The OAuth error of a 401 answer, as its WWW-Authenticate challenge says it. */
async function challenged(answer: Promise<unknown>): Promise<string | undefined> {
  const error = await answer.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(oidc.WWWAuthenticateChallengeError);
  const challenge = (error as oidc.WWWAuthenticateChallengeError).cause[0]!;
  return challenge.parameters.error;
}

/** The relying party's authorization request, through our sign-in page to its redirect URI. */
async function webQrLogin(
  rp: RelyingParty,
  person: string,
  options: Parameters<RelyingParty['start']>[0] = {},
) {
  const browser = new TestBrowser({ 'accept-language': 'en' });
  const request = await rp.start(options);
  const interaction = await browser.redirected(request.url);
  expect(interaction).toMatch(new RegExp(`^${issuer}/oidc/interaction/[A-Za-z0-9_-]+$`));
  const callback = await signInWithWebQr(
    browser,
    interaction,
    emulatorControl(w.emulator.url),
    APPS.web.appid,
    person,
  );
  return { browser, request, interaction, callback };
}

describe('OpenID Connect provider', () => {
  it('publishes discovery at the issuer with its endpoints under /oidc and the server’s own keys', async () => {
    const response = await fetch(`${issuer}/.well-known/openid-configuration`);
    expect(response.status).toBe(200);
    const discovery = (await response.json()) as Record<string, unknown>;
    expect(discovery).toMatchObject({
      issuer,
      authorization_endpoint: `${issuer}/oidc/auth`,
      token_endpoint: `${issuer}/oidc/token`,
      userinfo_endpoint: `${issuer}/oidc/me`,
      end_session_endpoint: `${issuer}/oidc/session/end`,
      jwks_uri: `${issuer}/oidc/jwks`,
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
      id_token_signing_alg_values_supported: ['ES256'],
    });
    expect(discovery.registration_endpoint).toBeUndefined();
    expect(discovery.scopes_supported).toEqual(
      expect.arrayContaining(['openid', 'profile', 'phone', 'offline_access']),
    );
    const ours = await (await fetch(`${issuer}/.well-known/jwks.json`)).json();
    const theirs = await (await fetch(`${issuer}/oidc/jwks`)).json();
    expect(theirs).toEqual(ours);
  });

  it('signs a person in through the website QR: a verified ID token whose sub is me.id, refresh, userinfo', async () => {
    const { request, callback } = await webQrLogin(first, 'oidc-alice', {
      scope: 'openid profile offline_access',
      prompt: 'consent',
    });
    expect(callback.startsWith(`${RP}/callback?`)).toBe(true);
    const tokens = await first.finish(callback, request);
    const claims = tokens.claims()!;
    const session = await c.loginAs('web', 'oidc-alice');
    expect(claims.sub).toBe(session.user.id);
    expect(claims.iss).toBe(issuer);
    expect(claims.aud).toBe('first-party');
    // Signed with the key the JWKS publishes (the header's kid), verified independently of openid-client.
    const jwks = jose.createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`));
    const verified = await jose.jwtVerify(tokens.id_token!, jwks, { issuer, audience: 'first-party' });
    expect(verified.protectedHeader.alg).toBe('ES256');
    expect(tokens.refresh_token).toBeDefined();

    const info = await oidc.fetchUserInfo(first.config, tokens.access_token, claims.sub);
    expect(info.sub).toBe(session.user.id);
    expect(info.phone_number).toBeUndefined();

    const refreshed = await oidc.refreshTokenGrant(first.config, tokens.refresh_token!);
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    expect(refreshed.claims()!.sub).toBe(session.user.id);
    // Rotated: the first refresh token is spent.
    await expect(oidc.refreshTokenGrant(first.config, tokens.refresh_token!)).rejects.toMatchObject({
      error: 'invalid_grant',
    });
  });

  it('signs a person in with a mini program code, the same sub as their mini program login', async () => {
    const browser = new TestBrowser();
    const request = await first.start();
    const interaction = await browser.redirected(request.url);
    let confirmedBy = '';
    const callback = await signInWithTicket(browser, interaction, issuer, c, 'mini', async (scene) => {
      const phone = await w.emulatorPost<{ code: string }>('/__emulator/scan', {
        appid: APPS.mini.appid,
        scene,
        user: 'oidc-bob',
      });
      const login = await c.run('WechatMiniLogin', { input: { code: phone.code } });
      const { accessToken, user } = login.data!.wechatMiniLogin;
      confirmedBy = user.id;
      expect((await c.run('ScanLoginTicket', { scene }, bearer(accessToken))).errors).toBeUndefined();
      expect((await c.run('ConfirmLoginTicket', { scene }, bearer(accessToken))).errors).toBeUndefined();
    });
    const tokens = await first.finish(callback, request);
    expect(tokens.claims()!.sub).toBe(confirmedBy);
  });

  it('signs a person in by following the Official Account, as their Official Account identity', async () => {
    const browser = new TestBrowser();
    const request = await first.start();
    const interaction = await browser.redirected(request.url);
    await w.emulatorPost('/__emulator/follows', { appid: FOLLOW.appid, user: 'oidc-follower' });
    const openid = w.emulator.people.openid(FOLLOW.appid, 'oidc-follower');
    const callback = await signInWithTicket(browser, interaction, issuer, c, 'follow', async (scene) => {
      const pushed = await sendPush(
        w.t.url,
        FOLLOW,
        signPush(FOLLOW, eventXml(FOLLOW, { openid, event: 'subscribe', eventKey: `qrscene_${scene}` })),
      );
      expect(pushed.status).toBe(200);
    });
    const tokens = await first.finish(callback, request);
    const [row] = await c.sql<{ kind: string; open_id: string }>(
      'select kind, open_id from user_login_method where user_id = ?',
      [tokens.claims()!.sub],
    );
    expect(row).toEqual({ kind: 'WECHAT_OFFICIAL_ACCOUNT', open_id: openid });
  });

  it('inside WeChat, offers the Official Account page first and signs the person in through it', async () => {
    const browser = new TestBrowser({
      'user-agent': 'Mozilla/5.0 (iPhone) MicroMessenger/8.0.50',
      'accept-language': 'zh-CN,zh;q=0.9',
    });
    const request = await first.start();
    const interaction = await browser.redirected(request.url);
    const html = await (await browser.request(interaction)).response.text();
    expect(html).toContain('使用微信登录');
    expect(html.indexOf('/wechat/official')).toBeLessThan(html.indexOf('/wechat/web'));
    const callback = await signInWithWebQr(
      browser,
      interaction,
      emulatorControl(w.emulator.url),
      APPS.official.appid,
      'oidc-inside',
      'official',
    );
    const tokens = await first.finish(callback, request);
    const [row] = await c.sql<{ kind: string }>('select kind from user_login_method where user_id = ?', [
      tokens.claims()!.sub,
    ]);
    expect(row!.kind).toBe('WECHAT_OFFICIAL_ACCOUNT');
  });

  it('asks a third-party client’s consent, and Deny answers access_denied', async () => {
    const third = await relyingParty(issuer, {
      ...CLIENTS[1]!,
      redirectUri: `${RP}/third/callback`,
      basic: false,
    });
    const { browser, interaction, callback } = await webQrLogin(third, 'oidc-carol', {
      scope: 'openid profile phone',
    });
    // After the sign-in, the consent page: a new interaction.
    expect(callback).toMatch(new RegExp(`^${issuer}/oidc/interaction/[A-Za-z0-9_-]+$`));
    expect(callback).not.toBe(interaction);
    const page = await browser.request(callback);
    const html = await page.response.text();
    expect(html).toContain('Partner &lt;App&gt;');
    expect(html).toContain('See your phone number');
    expect(page.response.headers.get('content-security-policy')).toContain("script-src 'self'");
    const denied = await browser.request(`${callback}/abort`, {
      method: 'POST',
      headers: { origin: issuer },
    });
    expect(denied.status).toBe(303);
    const back = await browser.redirected(denied.location!, issuer);
    expect(new URL(back).searchParams.get('error')).toBe('access_denied');
  });
});

describe('OpenID Connect provider: what a stranger or a wrong client gets', () => {
  it('refuses an unregistered redirect URI on its own page, never redirecting there', async () => {
    const request = await first.start();
    const url = new URL(request.url);
    url.searchParams.set('redirect_uri', 'https://evil.example/callback');
    const answer = await new TestBrowser().request(url.href);
    expect(answer.status).toBe(400);
    expect(answer.location).toBeNull();
    const html = await answer.response.text();
    expect(html).toContain('invalid_redirect_uri');
    expect(html).not.toContain('evil.example');
  });

  it('answers invalid_request to a public client without PKCE', async () => {
    const spa = await relyingParty(issuer, {
      clientId: 'spa',
      redirectUri: 'http://127.0.0.1:5173/callback',
    });
    const request = await spa.start({ pkce: false });
    const answer = await new TestBrowser().request(request.url);
    expect(answer.status).toBe(303);
    const back = new URL(answer.location!);
    expect(back.origin + back.pathname).toBe('http://127.0.0.1:5173/callback');
    expect(back.searchParams.get('error')).toBe('invalid_request');
    expect(back.searchParams.get('error_description')).toMatch(/PKCE/);
  });

  it('lets a public client with PKCE in, with no secret', async () => {
    const spa = await relyingParty(issuer, {
      clientId: 'spa',
      redirectUri: 'http://127.0.0.1:5173/callback',
    });
    const { request, callback } = await webQrLogin(spa, 'oidc-spa');
    expect((await spa.finish(callback, request)).claims()!.aud).toBe('spa');
  });

  it('answers invalid_grant to a code used twice, and to a code with the wrong verifier', async () => {
    const { request, callback } = await webQrLogin(first, 'oidc-dave');
    await first.finish(callback, request);
    await expect(first.finish(callback, request)).rejects.toMatchObject({ error: 'invalid_grant' });
    const again = await webQrLogin(first, 'oidc-dave');
    await expect(
      first.finish(again.callback, { ...again.request, verifier: oidc.randomPKCECodeVerifier() }),
    ).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('answers invalid_client to a wrong client secret', async () => {
    const wrong = await relyingParty(issuer, {
      ...CLIENTS[0]!,
      clientSecret: 'not-the-secret-0123456789abcdefghij',
      redirectUri: `${RP}/callback`,
    });
    const { request, callback } = await webQrLogin(wrong, 'oidc-erin');
    expect(await challenged(wrong.finish(callback, request))).toBe('invalid_client');
  });

  it('answers invalid_grant to a refresh token of another client', async () => {
    const { request, callback } = await webQrLogin(first, 'oidc-frank', {
      scope: 'openid offline_access',
      prompt: 'consent',
    });
    const tokens = await first.finish(callback, request);
    expect(tokens.refresh_token).toBeDefined();
    const third = await relyingParty(issuer, {
      ...CLIENTS[1]!,
      redirectUri: `${RP}/third/callback`,
      basic: false,
    });
    await expect(oidc.refreshTokenGrant(third.config, tokens.refresh_token!)).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    // Still good for its own client.
    expect((await oidc.refreshTokenGrant(first.config, tokens.refresh_token!)).access_token).toBeDefined();
  });

  it('ends a disabled user’s grants: no refresh, no userinfo, no new sign-in', async () => {
    const { browser, request, callback } = await webQrLogin(first, 'oidc-gina', {
      scope: 'openid offline_access',
      prompt: 'consent',
    });
    const tokens = await first.finish(callback, request);
    const sub = tokens.claims()!.sub;
    expect(await oidcRowsOf(sub)).toBeGreaterThan(0);
    expect(
      await admin('mutation ($id: ID!) { disableUser(id: $id, reason: "test") { id } }', sub),
    ).toBeUndefined();
    // Every object of theirs went with their sessions.
    expect(await oidcRowsOf(sub)).toBe(0);
    await expect(oidc.refreshTokenGrant(first.config, tokens.refresh_token!)).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    expect(await challenged(oidc.fetchUserInfo(first.config, tokens.access_token, sub))).toBe(
      'invalid_token',
    );
    // The provider's browser session is gone: the next authorization asks for a sign-in again.
    const next = await first.start();
    expect(await browser.follow(next.url)).toMatch(new RegExp(`^${issuer}/oidc/interaction/`));
  });

  it('ends a person’s grants when an admin ends their sessions, and not when they log out of one', async () => {
    const { request, callback } = await webQrLogin(first, 'oidc-jack', {
      scope: 'openid offline_access',
      prompt: 'consent',
    });
    const tokens = await first.finish(callback, request);
    const sub = tokens.claims()!.sub;
    // A logout of one of their GraphQL sessions leaves the OIDC grant alone.
    const session = await c.loginAs('web', 'oidc-jack');
    expect(session.user.id).toBe(sub);
    expect((await c.gql('mutation { logout }', {}, bearer(session.accessToken))).errors).toBeUndefined();
    const kept = await oidc.refreshTokenGrant(first.config, tokens.refresh_token!);
    expect(await admin('mutation ($id: ID!) { revokeSessions(userId: $id) }', sub)).toBeUndefined();
    expect(await oidcRowsOf(sub)).toBe(0);
    await expect(oidc.refreshTokenGrant(first.config, kept.refresh_token!)).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    expect(await challenged(oidc.fetchUserInfo(first.config, kept.access_token, sub))).toBe('invalid_token');
  });
});

describe('OpenID Connect provider: an account that ends', () => {
  it('ends the grants of a person who deletes their account', async () => {
    const { request, callback } = await webQrLogin(first, 'oidc-kate', {
      scope: 'openid offline_access',
      prompt: 'consent',
    });
    const tokens = await first.finish(callback, request);
    const session = await c.loginAs('web', 'oidc-kate');
    expect(
      (await c.gql('mutation { deleteAccount }', {}, bearer(session.accessToken))).errors,
    ).toBeUndefined();
    expect(await oidcRowsOf(session.user.id)).toBe(0);
    await expect(oidc.refreshTokenGrant(first.config, tokens.refresh_token!)).rejects.toMatchObject({
      error: 'invalid_grant',
    });
  });
});

describe('OpenID Connect provider: logout', () => {
  it('ends the provider’s session on RP-initiated logout and returns to the registered URI', async () => {
    const { browser, request, callback } = await webQrLogin(first, 'oidc-hana');
    const tokens = await first.finish(callback, request);
    // Signed in at the provider: the next authorization needs no sign-in page.
    const silent = await first.start();
    expect((await browser.follow(silent.url)).startsWith(`${RP}/callback?`)).toBe(true);

    const end = oidc.buildEndSessionUrl(first.config, {
      id_token_hint: tokens.id_token!,
      post_logout_redirect_uri: `${RP}/signed-out`,
      state: 'bye',
    });
    const question = await browser.request(end.href);
    expect(question.status).toBe(200);
    const html = await question.response.text();
    expect(html).toContain('Our Own App');
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
    expect(xsrf).toBeDefined();
    const action = /id="op.logoutForm"[^>]*action="([^"]+)"|action="([^"]+)"[^>]*id="op.logoutForm"/.exec(
      html,
    );
    const confirmed = await browser.request(new URL(action![1] ?? action![2]!, issuer).href, {
      method: 'POST',
      form: { xsrf: xsrf!, logout: 'yes' },
      headers: { origin: issuer },
    });
    expect(confirmed.status).toBe(303);
    expect(confirmed.location).toBe(`${RP}/signed-out?state=bye`);
    // Signed out: the next authorization shows the sign-in page again.
    const after = await first.start();
    expect(await browser.follow(after.url)).toMatch(new RegExp(`^${issuer}/oidc/interaction/`));
  });

  it('takes an id_token_hint of the key before a rotation, and signs with the new key after it', async () => {
    const { browser, request, callback } = await webQrLogin(first, 'oidc-lena');
    const before = await first.finish(callback, request);
    const oldKid = jose.decodeProtectedHeader(before.id_token!).kid;
    const newKid = await SigningKeyRepository.rotateIf(
      w.t.server.database.orm.em.fork(),
      () => 0,
      () => newSealedSigningKey(new SecretBox(AUTH_SECRET)),
      SigningKeys.publicationWindowSeconds({ refreshSeconds: 1, accessTokenTtlSeconds: 900 }),
    );
    expect(newKid).not.toBe(oldKid);
    // The instance reloads its keys within SIGNING_KEY_REFRESH_SECONDS: the JWKS lists the new one first.
    await eventually(async () => {
      const { keys } = (await (await fetch(`${issuer}/oidc/jwks`)).json()) as { keys: { kid: string }[] };
      expect(keys.map((k) => k.kid)).toEqual([newKid, oldKid]);
    });
    const next = await webQrLogin(first, 'oidc-lena');
    const after = await first.finish(next.callback, next.request);
    expect(jose.decodeProtectedHeader(after.id_token!).kid).toBe(newKid);
    // The earlier ID token still names its key: logout takes it as the hint.
    const end = oidc.buildEndSessionUrl(first.config, {
      id_token_hint: before.id_token!,
      post_logout_redirect_uri: `${RP}/signed-out`,
    });
    const question = await browser.request(end.href);
    expect(question.status).toBe(200);
    expect(await question.response.text()).toContain('op.logoutForm');
  });

  it('refuses a post_logout_redirect_uri the client did not register', async () => {
    const { request, callback } = await webQrLogin(first, 'oidc-ivan');
    const tokens = await first.finish(callback, request);
    const end = oidc.buildEndSessionUrl(first.config, {
      id_token_hint: tokens.id_token!,
      post_logout_redirect_uri: 'https://evil.example/out',
    });
    const answer = await new TestBrowser().request(end.href);
    expect(answer.status).toBe(400);
    expect(answer.location).toBeNull();
  });
});

describe('OpenID Connect provider behind https: what a stranger can plant or pile up', () => {
  let s: World;
  const PUBLIC = 'https://auth.example';
  const authorize = (state = 'x') =>
    `/oidc/auth?client_id=first-party&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(`${RP}/callback`)}` +
    `&state=${state}&code_challenge=${'a'.repeat(43)}&code_challenge_method=S256`;

  beforeAll(async () => {
    s = await startWorld({
      env: { PUBLIC_URL: PUBLIC, OIDC_CLIENTS: JSON.stringify(CLIENTS), RATE_LIMIT_IP_PER_MINUTE: '8' },
    });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('ties WeChat’s redirect back with a __Host- cookie, and ignores a planted plain one', async () => {
    const browser = new TestBrowser();
    const interaction = await browser.redirected(`${s.t.url}${authorize()}`);
    expect(new URL(interaction).pathname).toMatch(/^\/oidc\/interaction\/[A-Za-z0-9_-]+$/);
    const uid = interaction.split('/').at(-1)!;
    const toWechat = await browser.request(`${interaction}/wechat/web`);
    expect(toWechat.status).toBe(303);
    const set = toWechat.response.headers.getSetCookie().join('\n');
    expect(set).toMatch(
      /^__Host-oidc_wechat=[^;]+~web; Max-Age=600; Path=\/; HttpOnly; SameSite=Lax; Secure$/m,
    );
    // A sibling subdomain can plant `oidc_wechat`, never `__Host-oidc_wechat`: the plain one is not read.
    const wechat = new URL(toWechat.location!);
    const code = await emulatorControl(s.emulator.url).code(APPS.web.appid, 'planted-victim');
    const planted = await fetch(
      `${s.t.url}/oidc/wechat/callback?code=${code}&state=${encodeURIComponent(wechat.searchParams.get('state')!)}`,
      { redirect: 'manual', headers: { cookie: `oidc_wechat=${uid}~web` } },
    );
    expect(planted.status).toBe(400);
    expect(await planted.text()).toContain('This sign-in has expired');
  });

  it('keeps a stranger’s logout session minutes, not weeks, and refuses an oversized authorization URL', async () => {
    const before = await sqlOf(s.t)<{ n: number }>(
      `select count(*)::int as n from oidc_payload where model = 'Session'`,
    );
    const answer = await fetch(`${s.t.url}/oidc/session/end?state=${'s'.repeat(2000)}`);
    expect(answer.status).toBe(200);
    const rows = await sqlOf(s.t)<{ n: number; longest: number }>(
      `select count(*)::int as n, max(extract(epoch from expires_at - now()))::int as longest
         from oidc_payload where model = 'Session'`,
    );
    expect(rows[0]!.n).toBe(before[0]!.n + 1);
    expect(rows[0]!.longest).toBeLessThanOrEqual(600);
    const long = await fetch(`${s.t.url}${authorize('s'.repeat(5000))}`, { redirect: 'manual' });
    expect(long.status).toBe(414);
  });

  it('limits authorization and logout requests per client IP: 429 with retry-after, nothing written', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      statuses.push((await fetch(`${s.t.url}${authorize(`n${i}`)}`, { redirect: 'manual' })).status);
    }
    expect(statuses).toContain(429);
    const refused = await fetch(`${s.t.url}${authorize('late')}`, {
      redirect: 'manual',
      headers: { 'accept-language': 'en' },
    });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await refused.text()).toContain('Too many requests');
    const [row] = await sqlOf(s.t)<{ n: number }>(
      `select count(*)::int as n from oidc_payload where model = 'Interaction' and payload::text like '%"late"%'`,
    );
    expect(row!.n).toBe(0);
  });
});
