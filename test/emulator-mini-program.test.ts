import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createEmulator, type Emulator } from '../src/emulator/emulator.js';
import {
  decryptUserData,
  sessionKeySignature,
  verifyRawDataSignature,
} from '../src/wechat/open-data.crypto.js';
import { EMULATOR_TEST_APPS as APPS, emulatorCalls, expectError, type Body } from './support/emulator.js';

/**
 * The WeChat emulator (src/emulator), the mini program's server API: jscode2session, app access
 * tokens (token, stable_token) and what they are for (getuserphonenumber, checksession), and
 * encrypted user data.
 */

let clock = Date.parse('2026-11-21T00:00:00Z');
let emulator: Emulator;
const { get, post, code, jscode, miniStableToken, phoneNumber } = emulatorCalls(() => emulator.url);

beforeAll(async () => {
  emulator = await createEmulator({ apps: APPS, now: () => clock });
});
afterAll(async () => {
  await emulator?.close();
});
beforeEach(async () => {
  await post('/__emulator/reset', {});
});

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
