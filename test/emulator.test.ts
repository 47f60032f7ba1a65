import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { EmulatorApp } from '../src/emulator/apps.js';
import { createEmulator, type Emulator } from '../src/emulator/emulator.js';
import {
  decryptUserData,
  sessionKeySignature,
  verifyRawDataSignature,
} from '../src/wechat/open-data.crypto.js';

const APPS: EmulatorApp[] = [
  { appid: 'wxweb', secret: 'web-secret', kind: 'web', bound: true },
  { appid: 'wxapp', secret: 'app-secret', kind: 'app', bound: true },
  { appid: 'wxmini', secret: 'mini-secret', kind: 'mini', bound: true },
  { appid: 'wxmini2', secret: 'mini2-secret', kind: 'mini', bound: false },
  { appid: 'wxoa', secret: 'oa-secret', kind: 'official', bound: true },
];

let clock = Date.parse('2026-11-21T00:00:00Z');
let emulator: Emulator;

beforeAll(async () => {
  emulator = await createEmulator({ apps: APPS, now: () => clock });
});
afterAll(async () => {
  await emulator?.close();
});
beforeEach(async () => {
  await post('/__emulator/reset', {});
});

type Body = Record<string, unknown>;

async function get(path: string, query: Record<string, string> = {}): Promise<Body> {
  const response = await fetch(`${emulator.url}${path}?${new URLSearchParams(query)}`);
  expect(response.status).toBe(200);
  return JSON.parse(await response.text()) as Body;
}

async function post(path: string, body: unknown, query: Record<string, string> = {}): Promise<Body> {
  const response = await fetch(`${emulator.url}${path}?${new URLSearchParams(query)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return JSON.parse(await response.text()) as Body;
}

async function code(appid: string, user: string, scope?: string): Promise<string> {
  return (await post('/__emulator/codes', { appid, user, ...(scope ? { scope } : {}) })).code as string;
}

const jscode = (appid: string, js_code: string, secret = `${appid.slice(2)}-secret`) =>
  get('/sns/jscode2session', { appid, secret, js_code, grant_type: 'authorization_code' });
const oauth = (appid: string, c: string, secret = `${appid.slice(2)}-secret`) =>
  get('/sns/oauth2/access_token', { appid, secret, code: c, grant_type: 'authorization_code' });

function expectError(body: Body, errcode: number): void {
  expect(body.errcode).toBe(errcode);
  expect(body.errmsg).toMatch(/, rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$/);
}

/** wxmini's stable_token, as getuserphonenumber takes it. */
async function miniStableToken(): Promise<string> {
  const body = await post('/cgi-bin/stable_token', {
    grant_type: 'client_credential',
    appid: 'wxmini',
    secret: 'mini-secret',
  });
  return body.access_token as string;
}

/** getuserphonenumber with a fresh phone code of alice in wxmini and this app access token. */
async function phoneNumber(accessToken: string, options: Record<string, unknown> = {}): Promise<Body> {
  const { code: c } = await post('/__emulator/phone-codes', { appid: 'wxmini', user: 'alice', ...options });
  return post('/wxa/business/getuserphonenumber', { code: c }, { access_token: accessToken });
}

describe('jscode2session', () => {
  it('exchanges a code for openid, session_key and (bound) unionid, without errcode', async () => {
    const body = await jscode('wxmini', await code('wxmini', 'alice'));
    expect(Object.keys(body).sort()).toEqual(['openid', 'session_key', 'unionid']);
    expect(Buffer.from(body.session_key as string, 'base64')).toHaveLength(16);
    expect(body.openid).toMatch(/^o[A-Za-z0-9_-]{27}$/);
  });

  it('answers a used code with 40163 (code been used); an expired, unknown or foreign one with 40029', async () => {
    const c = await code('wxmini', 'alice');
    expect((await jscode('wxmini', c)).openid).toEqual(expect.any(String));
    expectError(await jscode('wxmini', c), 40163);
    expect((await jscode('wxmini', c)).errmsg).toMatch(/^code been used, rid: /);
    expectError(await jscode('wxmini', 'no-such-code'), 40029);
    expectError(await jscode('wxmini2', await code('wxmini', 'alice')), 40029);
    const old = await code('wxmini', 'alice');
    clock += 5 * 60_000;
    expectError(await jscode('wxmini', old), 40029);
  });

  it('takes the first value of a repeated parameter instead of refusing the request', async () => {
    const c = await code('wxmini', 'alice');
    const response = await fetch(
      `${emulator.url}/sns/jscode2session?appid=wxmini&appid=wxother&secret=mini-secret&js_code=${c}&grant_type=authorization_code`,
    );
    expect(response.status).toBe(200);
    expect(JSON.parse(await response.text())).toEqual({
      openid: expect.any(String),
      session_key: expect.any(String),
      unionid: expect.any(String),
    });
  });

  it('checks appid and secret: 41002, 41004, 40013, 40125, 41008, 40002', async () => {
    expectError(
      await get('/sns/jscode2session', { secret: 's', js_code: 'c', grant_type: 'authorization_code' }),
      41002,
    );
    expectError(
      await get('/sns/jscode2session', { appid: 'wxmini', js_code: 'c', grant_type: 'authorization_code' }),
      41004,
    );
    expectError(await jscode('wxnope', 'c', 's'), 40013);
    expectError(await jscode('wxmini', 'c', 'wrong'), 40125);
    expectError(
      await get('/sns/jscode2session', {
        appid: 'wxmini',
        secret: 'mini-secret',
        grant_type: 'authorization_code',
      }),
      41008,
    );
    expectError(
      await get('/sns/jscode2session', { appid: 'wxmini', secret: 'mini-secret', js_code: 'c' }),
      40002,
    );
  });

  it('answers errors with HTTP 200 and /sns/* bodies as text/plain', async () => {
    const response = await fetch(
      `${emulator.url}/sns/jscode2session?appid=wxnope&secret=s&js_code=c&grant_type=authorization_code`,
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  });
});

describe('identities', () => {
  it('gives one key the same unionid in every bound app, its own openid per app, none in unbound apps', async () => {
    const mini = await jscode('wxmini', await code('wxmini', 'alice'));
    const unbound = await jscode('wxmini2', await code('wxmini2', 'alice'));
    const web = await oauth('wxweb', await code('wxweb', 'alice'));
    const app = await oauth('wxapp', await code('wxapp', 'alice'));
    expect(web.unionid).toBe(mini.unionid);
    expect(app.unionid).toBe(mini.unionid);
    expect(unbound.unionid).toBeUndefined();
    expect(new Set([mini.openid, unbound.openid, web.openid, app.openid]).size).toBe(4);
    const bob = await jscode('wxmini', await code('wxmini', 'bob'));
    expect(bob.unionid).not.toBe(mini.unionid);
  });

  it('keeps identities stable across restarts given the same key', async () => {
    const first = await jscode('wxmini', await code('wxmini', 'carol'));
    const other = await createEmulator({ apps: APPS });
    try {
      const c = (await (
        await fetch(`${other.url}/__emulator/codes`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ appid: 'wxmini', user: 'carol' }),
        })
      ).json()) as Body;
      const again = JSON.parse(
        await (
          await fetch(
            `${other.url}/sns/jscode2session?appid=wxmini&secret=mini-secret&js_code=${c.code as string}&grant_type=authorization_code`,
          )
        ).text(),
      ) as Body;
      expect(again.openid).toBe(first.openid);
      expect(again.unionid).toBe(first.unionid);
    } finally {
      await other.close();
    }
  });
});

describe('OAuth (web, app, official account)', () => {
  it('exchanges a code for tokens, then userinfo with the profile', async () => {
    await post('/__emulator/users', {
      key: 'dave',
      nickname: 'Dave',
      avatarUrl: 'https://img.example/dave/132',
    });
    const token = await oauth('wxweb', await code('wxweb', 'dave'));
    expect(token).toEqual({
      access_token: expect.any(String),
      expires_in: 7200,
      refresh_token: expect.any(String),
      openid: expect.any(String),
      scope: 'snsapi_login',
      unionid: expect.any(String),
    });
    const info = await get('/sns/userinfo', {
      access_token: token.access_token as string,
      openid: token.openid as string,
    });
    expect(info).toMatchObject({
      openid: token.openid,
      nickname: 'Dave',
      headimgurl: 'https://img.example/dave/132',
      unionid: token.unionid,
      privilege: [],
    });
    expect(
      await get('/sns/auth', { access_token: token.access_token as string, openid: token.openid as string }),
    ).toEqual({ errcode: 0, errmsg: 'ok' });
  });

  it('gives people without an avatar of their own one it serves itself, as an SVG, for userinfo and encryptedData', async () => {
    await post('/__emulator/users', { key: 'erin', nickname: '小红' });
    const token = await oauth('wxweb', await code('wxweb', 'fred')); // made on the fly
    const info = await get('/sns/userinfo', {
      access_token: token.access_token as string,
      openid: token.openid as string,
    });
    expect(info.headimgurl).toBe(`${emulator.url}/__emulator/avatars/fred.svg`);
    const session = await jscode('wxmini', await code('wxmini', 'erin'));
    const data = await post('/__emulator/encrypted-data', { appid: 'wxmini', user: 'erin', real: true });
    const plain = decryptUserData(
      session.session_key as string,
      data.encryptedData as string,
      data.iv as string,
      'wxmini',
    ) as { avatarUrl: string };
    expect(plain.avatarUrl).toBe(`${emulator.url}/__emulator/avatars/erin.svg`);

    for (const [url, letter] of [
      [info.headimgurl as string, 'F'],
      [plain.avatarUrl, '小'],
    ] as const) {
      const response = await fetch(url);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('image/svg+xml');
      const svg = await response.text();
      expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
      expect(svg).toContain(`>${letter}</text>`);
    }
    // Any key answers (even one with a character a path must escape), never a server error.
    expect((await fetch(`${emulator.url}/__emulator/avatars/%25zz.svg`)).status).toBe(200);
  });

  it('answers a reused code with 40163, an expired one with 42003, a foreign one with 40029', async () => {
    const c = await code('wxapp', 'alice');
    await oauth('wxapp', c);
    expectError(await oauth('wxapp', c), 40163);
    const old = await code('wxapp', 'alice');
    clock += 5 * 60_000 + 1;
    expectError(await oauth('wxapp', old), 42003);
    expectError(await oauth('wxweb', await code('wxapp', 'alice')), 40029);
    expectError(
      await get('/sns/oauth2/access_token', {
        appid: 'wxweb',
        secret: 'web-secret',
        grant_type: 'authorization_code',
      }),
      41008,
    );
  });

  it('refuses userinfo for a snsapi_base token (48001) and expired tokens (42001); refresh renews them', async () => {
    const base = await oauth('wxoa', await code('wxoa', 'alice', 'snsapi_base'));
    expect(base.unionid).toBeUndefined();
    expectError(
      await get('/sns/userinfo', {
        access_token: base.access_token as string,
        openid: base.openid as string,
      }),
      48001,
    );

    const token = await oauth('wxapp', await code('wxapp', 'alice'));
    clock += 7200_000;
    const q = { access_token: token.access_token as string, openid: token.openid as string };
    expectError(await get('/sns/userinfo', q), 42001);
    expectError(await get('/sns/auth', q), 42001);
    const refreshed = await get('/sns/oauth2/refresh_token', {
      appid: 'wxapp',
      grant_type: 'refresh_token',
      refresh_token: token.refresh_token as string,
    });
    expect(refreshed.access_token).not.toBe(token.access_token);
    expect(refreshed.openid).toBe(token.openid);
    expect(
      (
        await get('/sns/userinfo', {
          access_token: refreshed.access_token as string,
          openid: token.openid as string,
        })
      ).openid,
    ).toBe(token.openid);
    expectError(
      await get('/sns/oauth2/refresh_token', {
        appid: 'wxapp',
        grant_type: 'refresh_token',
        refresh_token: 'nope',
      }),
      40030,
    );
    clock += 31 * 24 * 3600_000;
    expectError(
      await get('/sns/oauth2/refresh_token', {
        appid: 'wxapp',
        grant_type: 'refresh_token',
        refresh_token: token.refresh_token as string,
      }),
      42002,
    );
  });

  it('answers /sns/auth for another openid with 40003 and an unknown token with 40014', async () => {
    const token = await oauth('wxapp', await code('wxapp', 'alice'));
    expectError(
      await get('/sns/auth', { access_token: token.access_token as string, openid: 'oOther' }),
      40003,
    );
    expectError(await get('/sns/auth', { access_token: 'nope', openid: token.openid as string }), 40014);
  });
});

describe('app access tokens', () => {
  it('/cgi-bin/token rotates and keeps the previous token valid 5 minutes', async () => {
    const q = { grant_type: 'client_credential', appid: 'wxmini', secret: 'mini-secret' };
    const first = await get('/cgi-bin/token', q);
    expect(first).toEqual({ access_token: expect.any(String), expires_in: 7200 });
    const second = await get('/cgi-bin/token', q);
    expect(second.access_token).not.toBe(first.access_token);
    const c = (await post('/__emulator/phone-codes', { appid: 'wxmini', user: 'alice' })).code;
    const withOld = await post(
      '/wxa/business/getuserphonenumber',
      { code: c },
      { access_token: first.access_token as string },
    );
    expect(withOld.errcode).toBe(0);
    clock += 5 * 60_000;
    const c2 = (await post('/__emulator/phone-codes', { appid: 'wxmini', user: 'alice' })).code;
    expectError(
      await post(
        '/wxa/business/getuserphonenumber',
        { code: c2 },
        { access_token: first.access_token as string },
      ),
      42001,
    );
    expectError(await get('/cgi-bin/token', { ...q, secret: 'bad' }), 40125);
    expectError(await get('/cgi-bin/token', { ...q, grant_type: 'x' }), 40002);
  });

  it('stable_token returns the same token until force_refresh', async () => {
    const body = { grant_type: 'client_credential', appid: 'wxmini', secret: 'mini-secret' };
    const a = await post('/cgi-bin/stable_token', body);
    expect(a).toEqual({ access_token: expect.any(String), expires_in: 7200 });
    clock += 60_000;
    const b = await post('/cgi-bin/stable_token', body);
    expect(b).toEqual({ access_token: a.access_token, expires_in: 7140 });
    const forced = await post('/cgi-bin/stable_token', { ...body, force_refresh: true });
    expect(forced).toEqual({ access_token: expect.any(String), expires_in: 7200 });
    expect(forced.access_token).not.toBe(a.access_token);
    // The forced refresh ended the previous token at once.
    expectError(await phoneNumber(a.access_token as string), 40001);
    // Another within 30 s is ignored: the same token.
    clock += 29_000;
    const again = await post('/cgi-bin/stable_token', { ...body, force_refresh: true });
    expect(again.access_token).toBe(forced.access_token);
    clock += 1_000;
    const spaced = await post('/cgi-bin/stable_token', { ...body, force_refresh: true });
    expect(spaced.access_token).not.toBe(forced.access_token);
    expectError(await post('/cgi-bin/stable_token', { ...body, appid: 'wxnope' }), 40013);
    expectError(await post('/cgi-bin/stable_token', { ...body, secret: 'bad' }), 40125);
    expectError(await post('/cgi-bin/stable_token', { ...body, grant_type: 'x' }), 40002);
    const { apps } = (await (await fetch(`${emulator.url}/__emulator/app-tokens`)).json()) as {
      apps: { appid: string; calls: number; forceRefreshCalls: number }[];
    };
    expect(apps.find((c) => c.appid === 'wxmini')).toMatchObject({ forceRefreshCalls: 3 });
  });

  it('stable_token makes the next token 5 minutes before expiry, both valid meanwhile (expires_in >= 300)', async () => {
    const body = { grant_type: 'client_credential', appid: 'wxmini', secret: 'mini-secret' };
    const first = await post('/cgi-bin/stable_token', body);
    clock += (7200 - 301) * 1000;
    expect(await post('/cgi-bin/stable_token', body)).toEqual({
      access_token: first.access_token,
      expires_in: 301,
    });
    clock += 2_000;
    const next = await post('/cgi-bin/stable_token', body);
    expect(next).toEqual({ access_token: expect.any(String), expires_in: 7200 });
    expect(next.access_token).not.toBe(first.access_token);
    expect((await phoneNumber(first.access_token as string)).errcode).toBe(0);
    expect((await phoneNumber(next.access_token as string)).errcode).toBe(0);
    clock += 300_000;
    expectError(await phoneNumber(first.access_token as string), 42001);
    expect((await phoneNumber(next.access_token as string)).errcode).toBe(0);
  });

  it('ends every token of an app on POST /__emulator/app-tokens/invalidate; the next stable_token is new', async () => {
    const body = { grant_type: 'client_credential', appid: 'wxmini', secret: 'mini-secret' };
    const stable = await post('/cgi-bin/stable_token', body);
    const plain = await get('/cgi-bin/token', body);
    const other = await post('/cgi-bin/stable_token', { ...body, appid: 'wxapp', secret: 'app-secret' });
    expect(await post('/__emulator/app-tokens/invalidate', { appid: 'wxmini' })).toEqual({ invalidated: 2 });
    expectError(await phoneNumber(stable.access_token as string), 40001);
    expectError(await phoneNumber(plain.access_token as string), 40001);
    const fresh = await post('/cgi-bin/stable_token', body);
    expect(fresh).toEqual({ access_token: expect.any(String), expires_in: 7200 });
    expect(fresh.access_token).not.toBe(stable.access_token);
    expect((await phoneNumber(fresh.access_token as string)).errcode).toBe(0);
    expect(
      (await post('/cgi-bin/stable_token', { ...body, appid: 'wxapp', secret: 'app-secret' })).access_token,
    ).toBe(other.access_token);
    const unknown = await fetch(`${emulator.url}/__emulator/app-tokens/invalidate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ appid: 'wxnope' }),
    });
    expect(unknown.status).toBe(400);
    expect(emulator.issuedSecrets()).toEqual(
      expect.arrayContaining([stable.access_token, plain.access_token, fresh.access_token]),
    );
  });

  it('getuserphonenumber answers a phone code once, with phone_info and watermark', async () => {
    const token = await get('/cgi-bin/token', {
      grant_type: 'client_credential',
      appid: 'wxmini',
      secret: 'mini-secret',
    });
    const c = (
      await post('/__emulator/phone-codes', { appid: 'wxmini', user: 'alice', phoneNumber: '13800138000' })
    ).code;
    const answer = await post(
      '/wxa/business/getuserphonenumber',
      { code: c },
      { access_token: token.access_token as string },
    );
    expect(answer).toEqual({
      errcode: 0,
      errmsg: 'ok',
      phone_info: {
        phoneNumber: '13800138000',
        purePhoneNumber: '13800138000',
        countryCode: '86',
        watermark: { appid: 'wxmini', timestamp: Math.floor(clock / 1000) },
      },
    });
    expectError(
      await post(
        '/wxa/business/getuserphonenumber',
        { code: c },
        { access_token: token.access_token as string },
      ),
      40029,
    );
    expectError(await post('/wxa/business/getuserphonenumber', { code: c }, { access_token: 'nope' }), 40001);
  });

  it('gives every person an 11-digit mainland number of their own unless told one', async () => {
    const token = await miniStableToken();
    const numbers = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const { code: c } = await post('/__emulator/phone-codes', { appid: 'wxmini', user: `person-${i}` });
      const answer = await post('/wxa/business/getuserphonenumber', { code: c }, { access_token: token });
      const info = answer.phone_info as Body;
      expect(info.purePhoneNumber).toMatch(/^138\d{8}$/);
      numbers.add(info.purePhoneNumber as string);
    }
    expect(numbers.size).toBe(200);
  });

  it('gives countryCode as the phone code asked (string or number), and the watermark appid it was told', async () => {
    const token = await miniStableToken();
    const info = async (options: Record<string, unknown>) =>
      (await phoneNumber(token, { phoneNumber: '2025550123', ...options })).phone_info as Body;
    expect(await info({ countryCode: 1 })).toMatchObject({
      phoneNumber: '+12025550123',
      purePhoneNumber: '2025550123',
      countryCode: 1,
    });
    expect(await info({ countryCode: '852' })).toMatchObject({ countryCode: '852' });
    expect(await info({ watermarkAppid: 'wxelse' })).toMatchObject({ watermark: { appid: 'wxelse' } });
    expect(await info({})).toMatchObject({ countryCode: '86', watermark: { appid: 'wxmini' } });
  });

  it('checksession accepts the current session key signature and rejects others (87009)', async () => {
    const session = await jscode('wxmini', await code('wxmini', 'alice'));
    const token = await get('/cgi-bin/token', {
      grant_type: 'client_credential',
      appid: 'wxmini',
      secret: 'mini-secret',
    });
    const q = {
      access_token: token.access_token as string,
      openid: session.openid as string,
      sig_method: 'hmac_sha256',
    };
    expect(
      await get('/wxa/checksession', { ...q, signature: sessionKeySignature(session.session_key as string) }),
    ).toEqual({ errcode: 0, errmsg: 'ok' });
    // A new login makes a new session key; the old one no longer checks out.
    await jscode('wxmini', await code('wxmini', 'alice'));
    expectError(
      await get('/wxa/checksession', { ...q, signature: sessionKeySignature(session.session_key as string) }),
      87009,
    );
  });
});

describe('encrypted data', () => {
  it('is anonymous by default, as WeChat’s is since 2022: “微信用户” and a grey avatar it serves itself', async () => {
    await post('/__emulator/users', {
      key: 'erin',
      nickname: '小红',
      avatarUrl: 'https://img.example/e/132',
    });
    const session = await jscode('wxmini', await code('wxmini', 'erin'));
    const data = await post('/__emulator/encrypted-data', { appid: 'wxmini', user: 'erin' });
    const plain = decryptUserData(
      session.session_key as string,
      data.encryptedData as string,
      data.iv as string,
      'wxmini',
    );
    const grey = `${emulator.url}/__emulator/default-avatar.svg`;
    // The profile is anonymous; who the person is (openId, unionId) is not.
    expect(plain).toMatchObject({
      openId: session.openid,
      unionId: session.unionid,
      nickName: '微信用户',
      avatarUrl: grey,
    });
    expect(JSON.parse(data.rawData as string)).toMatchObject({ nickName: '微信用户', avatarUrl: grey });
    expect(
      verifyRawDataSignature(data.rawData as string, data.signature as string, session.session_key as string),
    ).toBe(true);

    const avatar = await fetch(grey);
    expect(avatar.status).toBe(200);
    expect(avatar.headers.get('content-type')).toBe('image/svg+xml');
    const svg = await avatar.text();
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(svg).toContain('fill="#e3e3e3"');
    expect(svg).not.toContain('<text');
    // A person called "default" keeps an avatar of their own.
    expect(await (await fetch(`${emulator.url}/__emulator/avatars/default.svg`)).text()).toContain(
      '>D</text>',
    );
  });

  it('refuses a `real` that is not a boolean with 400', async () => {
    await code('wxmini', 'erin');
    const response = await fetch(`${emulator.url}/__emulator/encrypted-data`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ appid: 'wxmini', user: 'erin', real: 'yes' }),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as Body).error).toMatch(/^real: /);
  });

  it('decrypts with the session key to the real profile with `real: true`, with our watermark and a valid rawData signature', async () => {
    await post('/__emulator/users', { key: 'erin', nickname: '小红' });
    const session = await jscode('wxmini', await code('wxmini', 'erin'));
    const data = await post('/__emulator/encrypted-data', { appid: 'wxmini', user: 'erin', real: true });
    const plain = decryptUserData(
      session.session_key as string,
      data.encryptedData as string,
      data.iv as string,
      'wxmini',
    );
    expect(plain).toMatchObject({
      openId: session.openid,
      unionId: session.unionid,
      nickName: '小红',
      avatarUrl: `${emulator.url}/__emulator/avatars/erin.svg`,
      watermark: { appid: 'wxmini', timestamp: Math.floor(clock / 1000) },
    });
    expect(JSON.parse(data.rawData as string)).toMatchObject({ nickName: '小红' });
    expect(
      verifyRawDataSignature(data.rawData as string, data.signature as string, session.session_key as string),
    ).toBe(true);
    expect(() =>
      decryptUserData(
        session.session_key as string,
        data.encryptedData as string,
        data.iv as string,
        'wxother',
      ),
    ).toThrow('watermark');
  });

  it('refuses to make encrypted data before a session key exists', async () => {
    const response = await fetch(`${emulator.url}/__emulator/encrypted-data`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ appid: 'wxmini', user: 'nobody' }),
    });
    expect(response.status).toBe(409);
  });
});

describe('faults, latency and the request log', () => {
  it('applies an errcode fault to exactly N calls of its path', async () => {
    await post('/__emulator/faults', { path: '/sns/jscode2session', times: 2, errcode: -1 });
    expect((await jscode('wxmini', await code('wxmini', 'alice'))).errcode).toBe(-1);
    expect((await jscode('wxmini', await code('wxmini', 'alice'))).errcode).toBe(-1);
    expect((await jscode('wxmini', await code('wxmini', 'alice'))).openid).toEqual(expect.any(String));
  });

  it('answers a status fault with that HTTP status, malformed with a non-JSON body, drop with a closed connection', async () => {
    const url = `${emulator.url}/sns/jscode2session?appid=wxmini&secret=mini-secret&js_code=x&grant_type=authorization_code`;
    await post('/__emulator/faults', { path: '/sns/jscode2session', status: 502 });
    expect((await fetch(url)).status).toBe(502);
    await post('/__emulator/faults', { path: '/sns/jscode2session', malformed: true });
    const malformed = await fetch(url);
    expect(malformed.status).toBe(200);
    await expect(malformed.text().then((t) => JSON.parse(t))).rejects.toThrow();
    await post('/__emulator/faults', { path: '/sns/jscode2session', drop: true });
    await expect(fetch(url)).rejects.toThrow();
    expect(
      (
        await get('/sns/jscode2session', {
          appid: 'wxmini',
          secret: 'mini-secret',
          js_code: 'x',
          grant_type: 'authorization_code',
        })
      ).errcode,
    ).toBe(40029);
  });

  it('delays one call by delayMs and all calls by the latency', async () => {
    await post('/__emulator/faults', { path: '/sns/auth', delayMs: 300 });
    let started = Date.now();
    await get('/sns/auth', {});
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    started = Date.now();
    await get('/sns/auth', {});
    expect(Date.now() - started).toBeLessThan(290);
    await post('/__emulator/latency', { ms: 200 });
    started = Date.now();
    await get('/sns/auth', {});
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });

  it('logs path, appid and outcome, never secrets or codes', async () => {
    const c = await code('wxmini', 'alice');
    await jscode('wxmini', c);
    await jscode('wxmini', c);
    const { requests } = (await (await fetch(`${emulator.url}/__emulator/requests`)).json()) as {
      requests: Body[];
    };
    expect(requests.map((r) => [r.path, r.appid, r.outcome])).toEqual([
      ['/sns/jscode2session', 'wxmini', 'ok'],
      ['/sns/jscode2session', 'wxmini', 'errcode:40163'],
    ]);
    expect(JSON.stringify(requests)).not.toContain(c);
    expect(JSON.stringify(requests)).not.toContain('mini-secret');
  });

  it('mints codes in batches and counts calls per path and TCP connections', async () => {
    const before = (await (await fetch(`${emulator.url}/__emulator/stats`)).json()) as {
      calls: Record<string, number>;
    };
    const { codes } = (await post('/__emulator/codes/batch', {
      appid: 'wxmini',
      users: ['b1', 'b2', 'b1'],
    })) as { codes: string[] };
    expect(codes).toHaveLength(3);
    const sessions = await Promise.all(codes.map((c) => jscode('wxmini', c)));
    expect(sessions[0]!.openid).toBe(sessions[2]!.openid);
    expect(sessions[1]!.openid).not.toBe(sessions[0]!.openid);
    const after = (await (await fetch(`${emulator.url}/__emulator/stats`)).json()) as {
      calls: Record<string, number>;
      connections: number;
    };
    expect(after.calls['/sns/jscode2session']! - (before.calls['/sns/jscode2session'] ?? 0)).toBe(3);
    expect(after.connections).toBeGreaterThan(0);
  });

  it('rejects a malformed control request with 400 and a reason', async () => {
    const response = await fetch(`${emulator.url}/__emulator/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ path: '/sns/auth', times: 1 }),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as Body).error).toMatch(
      /errcode, status, delayMs, drop, reset or malformed/,
    );
  });
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
