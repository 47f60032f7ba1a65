import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createEmulator, type Emulator } from '../src/emulator/emulator.js';
import { EMULATOR_TEST_APPS as APPS, emulatorCalls, expectError, type Body } from './support/emulator.js';

/**
 * The WeChat emulator (src/emulator), the login pages a browser sees: the website's QR page
 * (/connect/qrconnect) and the official account's authorize page (/connect/oauth2/authorize), with
 * the person they remember.
 */

const clock = Date.parse('2026-11-21T00:00:00Z');
let emulator: Emulator;
const { get, post, code, oauth } = emulatorCalls(() => emulator.url);

beforeAll(async () => {
  emulator = await createEmulator({ apps: APPS, now: () => clock });
});
afterAll(async () => {
  await emulator?.close();
});
beforeEach(async () => {
  await post('/__emulator/reset', {});
});

describe('login pages', () => {
  const redirect = 'https://site.example/callback?from=test';

  function qrUrl(params: Record<string, string>): string {
    return `${emulator.url}/connect/qrconnect?${new URLSearchParams(params)}#wechat_redirect`;
  }

  async function confirm(form: Record<string, string>): Promise<Response> {
    return fetch(`${emulator.url}/connect/confirm`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
      redirect: 'manual',
    });
  }

  it('shows the QR login page with the known people and Confirm/Cancel, no external resources', async () => {
    await post('/__emulator/users', { key: 'alice', nickname: 'Alice' });
    const response = await fetch(
      qrUrl({
        appid: 'wxweb',
        redirect_uri: redirect,
        response_type: 'code',
        scope: 'snsapi_login',
        state: 's1',
      }),
    );
    const html = await response.text();
    expect(response.headers.get('content-type')).toMatch(/text\/html/);
    expect(html).toContain('Confirm login');
    expect(html).toContain('Cancel');
    expect(html).toContain('Alice');
    expect(html).not.toMatch(/(src|href)="https?:/);
  });

  it('redirects Confirm to redirect_uri with code and state, and the code works once', async () => {
    const response = await confirm({
      appid: 'wxweb',
      redirect_uri: redirect,
      scope: 'snsapi_login',
      state: 's1',
      user: 'alice',
      action: 'confirm',
    });
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get('location')!);
    expect(location.origin + location.pathname).toBe('https://site.example/callback');
    expect(location.searchParams.get('from')).toBe('test');
    expect(location.searchParams.get('state')).toBe('s1');
    const token = await oauth('wxweb', location.searchParams.get('code')!);
    expect(token.openid).toEqual(expect.any(String));
  });

  it('logs in a new person typed as a key', async () => {
    const response = await confirm({
      appid: 'wxweb',
      redirect_uri: redirect,
      scope: 'snsapi_login',
      state: '',
      new_user: 'zoe',
      action: 'confirm',
    });
    const c = new URL(response.headers.get('location')!).searchParams.get('code')!;
    const token = await oauth('wxweb', c);
    const info = await get('/sns/userinfo', {
      access_token: token.access_token as string,
      openid: token.openid as string,
    });
    expect(info.nickname).toBe('zoe');
  });

  it('redirects Cancel with the state and no code', async () => {
    const response = await confirm({
      appid: 'wxweb',
      redirect_uri: redirect,
      scope: 'snsapi_login',
      state: 's2',
      user: 'alice',
      action: 'cancel',
    });
    const location = new URL(response.headers.get('location')!);
    expect(location.searchParams.get('state')).toBe('s2');
    expect(location.searchParams.has('code')).toBe(false);
  });

  it.each([
    [{ redirect_uri: redirect, response_type: 'code', scope: 'snsapi_login' }, 'appid'],
    [{ appid: 'wxnope', redirect_uri: redirect, response_type: 'code', scope: 'snsapi_login' }, 'appid'],
    [{ appid: 'wxmini', redirect_uri: redirect, response_type: 'code', scope: 'snsapi_login' }, 'appid'],
    [{ appid: 'wxweb', response_type: 'code', scope: 'snsapi_login' }, 'redirect_uri'],
    [
      { appid: 'wxweb', redirect_uri: redirect, response_type: 'token', scope: 'snsapi_login' },
      'response_type',
    ],
    [{ appid: 'wxweb', redirect_uri: redirect, response_type: 'code', scope: 'snsapi_userinfo' }, 'Scope'],
  ])('shows WeChat’s error page, not a redirect, for %j', async (params, reason) => {
    const response = await fetch(qrUrl(params as Record<string, string>), { redirect: 'manual' });
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain('该链接无法访问');
    expect(html).toContain(reason);
  });
});

describe('official account authorize page', () => {
  const redirect = 'https://oa.example/callback?from=test';

  function authorizeUrl(scope: string, state = 'st1', appid = 'wxoa'): string {
    return `${emulator.url}/connect/oauth2/authorize?${new URLSearchParams({ appid, redirect_uri: redirect, response_type: 'code', scope, state })}#wechat_redirect`;
  }

  function open(url: string, cookie?: string): Promise<Response> {
    return fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });
  }

  async function confirm(form: Record<string, string>): Promise<Response> {
    return fetch(`${emulator.url}/connect/confirm`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ appid: 'wxoa', redirect_uri: redirect, state: 'st1', ...form }).toString(),
      redirect: 'manual',
    });
  }

  /** The code and state of a redirect back to `redirect`. */
  function redirectedBack(response: Response): { code: string | null; state: string | null } {
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get('location')!);
    expect(location.origin + location.pathname).toBe('https://oa.example/callback');
    expect(location.searchParams.get('from')).toBe('test');
    return { code: location.searchParams.get('code'), state: location.searchParams.get('state') };
  }

  const userinfo = (token: Body) =>
    get('/sns/userinfo', { access_token: token.access_token as string, openid: token.openid as string });

  it('remembers the person confirmed on any login page in an HttpOnly, SameSite=Lax cookie', async () => {
    const response = await fetch(`${emulator.url}/connect/confirm`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        appid: 'wxweb',
        redirect_uri: redirect,
        scope: 'snsapi_login',
        state: 's',
        user: 'alice',
        action: 'confirm',
      }).toString(),
      redirect: 'manual',
    });
    expect(response.status).toBe(302);
    expect(response.headers.get('set-cookie')).toBe('wxemu_user=alice; Path=/; HttpOnly; SameSite=Lax');
    // Cancelling picks nobody.
    const cancelled = await confirm({ scope: 'snsapi_userinfo', user: 'bob', action: 'cancel' });
    expect(redirectedBack(cancelled)).toEqual({ code: null, state: 'st1' });
    expect(cancelled.headers.get('set-cookie')).toBeNull();
  });

  it('is silent for snsapi_base with a remembered person: a 302 straight back with a code for them', async () => {
    const response = await open(authorizeUrl('snsapi_base'), 'other=1; wxemu_user=alice');
    const { code: c, state } = redirectedBack(response);
    expect(state).toBe('st1');
    const token = await oauth('wxoa', c!);
    const real = await oauth('wxoa', await code('wxoa', 'alice', 'snsapi_base'));
    expect(token).toEqual({
      access_token: expect.any(String),
      expires_in: 7200,
      refresh_token: expect.any(String),
      openid: real.openid,
      scope: 'snsapi_base',
    });
    // snsapi_base: openid only, no unionid (bound account or not) and no userinfo.
    expectError(await userinfo(token), 48001);
    const { requests } = (await (await fetch(`${emulator.url}/__emulator/requests`)).json()) as {
      requests: Body[];
    };
    expect(requests[0]).toMatchObject({ path: '/connect/oauth2/authorize', outcome: 'silent' });
  });

  it('asks once who the browser’s WeChat user is for snsapi_base without the cookie, then is silent', async () => {
    const first = await open(authorizeUrl('snsapi_base'));
    expect(first.status).toBe(200);
    const html = await first.text();
    expect(html).toContain('WeChat would show no page here');
    expect(html).toContain('>Continue</button>');
    expect(html).not.toContain('Cancel');
    expect(html).not.toContain('snapshot');

    const picked = await confirm({ scope: 'snsapi_base', new_user: 'olga', action: 'confirm' });
    const { code: c } = redirectedBack(picked);
    const cookie = picked.headers.get('set-cookie')!.split(';')[0]!;
    expect(cookie).toBe('wxemu_user=olga');
    const token = await oauth('wxoa', c!);

    const again = await open(authorizeUrl('snsapi_base', 'st2'), cookie);
    const back = redirectedBack(again);
    expect(back.state).toBe('st2');
    expect((await oauth('wxoa', back.code!)).openid).toBe(token.openid);
  });

  it('shows the picker for a cookie that names no valid key, and the error page for bad parameters even with one', async () => {
    const bad = await open(authorizeUrl('snsapi_base'), 'wxemu_user=%3Cscript%3E');
    expect(bad.status).toBe(200);
    expect(await bad.text()).toContain('WeChat would show no page here');

    const wrongApp = await open(authorizeUrl('snsapi_base', 'st1', 'wxweb'), 'wxemu_user=alice');
    expect(wrongApp.status).toBe(200);
    expect(await wrongApp.text()).toContain('该链接无法访问');
  });

  it('shows the consent page for snsapi_userinfo even to a remembered person, with a snapshot-mode checkbox', async () => {
    const response = await open(authorizeUrl('snsapi_userinfo'), 'wxemu_user=alice');
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain('Confirm login');
    expect(html).toContain('Cancel');
    expect(html).toContain('<input type="checkbox" name="snapshot" value="1">');
    expect(html).not.toMatch(/(src|href)="https?:/);
    // The website's QR page has no snapshot mode.
    const qr = await fetch(
      `${emulator.url}/connect/qrconnect?${new URLSearchParams({ appid: 'wxweb', redirect_uri: redirect, response_type: 'code', scope: 'snsapi_login' })}`,
    );
    expect(await qr.text()).not.toContain('snapshot');

    const confirmed = await confirm({ scope: 'snsapi_userinfo', user: 'alice', action: 'confirm' });
    const token = await oauth('wxoa', redirectedBack(confirmed).code!);
    expect(token.is_snapshotuser).toBeUndefined();
    expect(token.unionid).toEqual(expect.any(String));
    expect((await userinfo(token)).openid).toBe(token.openid);
  });

  /** The person's real snsapi_userinfo token, to compare a snapshot one with. */
  async function realToken(user: string): Promise<Body> {
    return oauth('wxoa', await code('wxoa', user, 'snsapi_userinfo'));
  }

  it('gives a snapshot-mode code (consent page checkbox) a virtual account: is_snapshotuser 1, another openid and unionid, userinfo 48001', async () => {
    const response = await confirm({
      scope: 'snsapi_userinfo',
      user: 'alice',
      snapshot: '1',
      action: 'confirm',
    });
    const token = await oauth('wxoa', redirectedBack(response).code!);
    const real = await realToken('alice');
    expect(token).toEqual({
      access_token: expect.any(String),
      expires_in: 7200,
      refresh_token: expect.any(String),
      openid: expect.stringMatching(/^o[A-Za-z0-9_-]{27}$/),
      scope: 'snsapi_userinfo',
      is_snapshotuser: 1,
      unionid: expect.stringMatching(/^o[A-Za-z0-9_-]{27}$/),
    });
    expect(token.openid).not.toBe(real.openid);
    expect(token.unionid).not.toBe(real.unionid);
    // The same person's virtual account is the same each time.
    const again = await oauth(
      'wxoa',
      (await post('/__emulator/codes', { appid: 'wxoa', user: 'alice', snapshot: true })).code as string,
    );
    expect(again).toMatchObject({ openid: token.openid, unionid: token.unionid, is_snapshotuser: 1 });

    expectError(await userinfo(token), 48001);
    expect(
      await get('/sns/auth', { access_token: token.access_token as string, openid: token.openid as string }),
    ).toEqual({ errcode: 0, errmsg: 'ok' });
    expectError(
      await get('/sns/auth', { access_token: token.access_token as string, openid: real.openid as string }),
      40003,
    );
    const refreshed = await get('/sns/oauth2/refresh_token', {
      appid: 'wxoa',
      grant_type: 'refresh_token',
      refresh_token: token.refresh_token as string,
    });
    expect(refreshed.openid).toBe(token.openid);
  });

  it('mints snapshot-mode codes with the control API for official accounts only', async () => {
    const base = await oauth(
      'wxoa',
      (
        await post('/__emulator/codes', {
          appid: 'wxoa',
          user: 'bob',
          scope: 'snsapi_base',
          snapshot: true,
        })
      ).code as string,
    );
    expect(base.is_snapshotuser).toBe(1);
    expect(base.unionid).toBeUndefined();
    expect(base.openid).not.toBe((await realToken('bob')).openid);

    for (const appid of ['wxweb', 'wxmini']) {
      const response = await fetch(`${emulator.url}/__emulator/codes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ appid, user: 'bob', snapshot: true }),
      });
      expect(response.status).toBe(400);
      expect(((await response.json()) as Body).error).toMatch(/snapshot mode is for official accounts/);
    }
  });
});
