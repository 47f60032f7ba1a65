import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createEmulator, type Emulator } from '../src/emulator/emulator.js';
import { EMULATOR_TEST_APPS as APPS, emulatorCalls, expectError } from './support/emulator.js';

/**
 * The WeChat emulator (src/emulator), an Official Account's server APIs for login by follow:
 * parametric QR codes, a follower's info, the JS-SDK's jsapi_ticket, and the follows control route.
 */
let clock = Date.parse('2026-12-07T00:00:00Z');
let emulator: Emulator;
const { get, post, miniStableToken } = emulatorCalls(() => emulator.url);

beforeAll(async () => {
  emulator = await createEmulator({ apps: APPS, now: () => clock });
});
afterAll(async () => {
  await emulator?.close();
});
beforeEach(async () => {
  await post('/__emulator/reset', {});
});

async function oaToken(): Promise<string> {
  const body = await post('/cgi-bin/stable_token', {
    grant_type: 'client_credential',
    appid: 'wxoa',
    secret: 'oa-secret',
  });
  return body.access_token as string;
}

const qr = (token: string, body: unknown) => post('/cgi-bin/qrcode/create', body, { access_token: token });
const strScene = (scene: unknown, extra: object = {}) => ({
  action_name: 'QR_STR_SCENE',
  expire_seconds: 300,
  action_info: { scene: { scene_str: scene } },
  ...extra,
});

describe('parametric QR codes (cgi-bin/qrcode/create)', () => {
  it('makes a temporary code with a string scene: a ticket, its lifetime and the url to render', async () => {
    const body = await qr(await oaToken(), strScene('aScene123'));
    expect(body).toEqual({ ticket: expect.any(String), expire_seconds: 300, url: expect.any(String) });
    expect(body.url).toMatch(new RegExp(`^${emulator.url}/__emulator/oa-qr/`));
    const permanent = await qr(await oaToken(), {
      action_name: 'QR_LIMIT_STR_SCENE',
      action_info: { scene: { scene_str: 's' } },
    });
    expect(permanent).toEqual({ ticket: expect.any(String), url: expect.any(String) });
    // At most 30 days.
    expect((await qr(await oaToken(), strScene('x', { expire_seconds: 99_999_999 }))).expire_seconds).toBe(
      2_592_000,
    );
  });

  it('refuses another kind’s token, an unknown or missing one, and malformed requests as WeChat does', async () => {
    expectError(await qr(await miniStableToken(), strScene('s')), 48001);
    expectError(await qr('not-a-token', strScene('s')), 40001);
    expectError(await post('/cgi-bin/qrcode/create', strScene('s')), 41001);
    const token = await oaToken();
    expectError(await qr(token, strScene('')), 40097);
    expectError(await qr(token, strScene('x'.repeat(65))), 40097);
    expectError(await qr(token, strScene(42)), 40097);
    expectError(await qr(token, strScene('s', { action_name: 'QR_SCENE' })), 40097);
    expectError(await qr(token, strScene('s', { expire_seconds: -5 })), 40097);
    expectError(await qr(token, {}), 40097);
  });
});

describe('a follower’s info (cgi-bin/user/info)', () => {
  it('answers subscribe 0 until the person follows, then the unionid of a bound account', async () => {
    const token = await oaToken();
    const openid = emulator.people.openid('wxoa', 'alice');
    emulator.people.upsert('alice');
    expect(await get('/cgi-bin/user/info', { access_token: token, openid, lang: 'zh_CN' })).toEqual({
      subscribe: 0,
      openid,
    });
    expect(await post('/__emulator/follows', { appid: 'wxoa', user: 'alice' })).toEqual({
      appid: 'wxoa',
      user: 'alice',
      following: true,
    });
    const info = await get('/cgi-bin/user/info', { access_token: token, openid, lang: 'zh_CN' });
    expect(info).toMatchObject({ subscribe: 1, openid, unionid: emulator.people.unionidOf('alice') });
    // No nickname or avatar since 2021-12-27.
    expect(info).not.toHaveProperty('nickname');
    expect(info).not.toHaveProperty('headimgurl');
    await post('/__emulator/follows', { appid: 'wxoa', user: 'alice', following: false });
    expect((await get('/cgi-bin/user/info', { access_token: token, openid })).subscribe).toBe(0);
  });

  it('refuses an unknown or missing openid, and another kind’s token', async () => {
    const token = await oaToken();
    expectError(await get('/cgi-bin/user/info', { access_token: token, openid: 'o-nobody' }), 40003);
    expectError(await get('/cgi-bin/user/info', { access_token: token }), 41009);
    expectError(
      await get('/cgi-bin/user/info', { access_token: await miniStableToken(), openid: 'o-nobody' }),
      48001,
    );
    expect((await post('/__emulator/follows', { appid: 'wxmini', user: 'alice' })).error).toMatch(
      /official account/,
    );
  });
});

describe('the JS-SDK ticket (cgi-bin/ticket/getticket)', () => {
  it('answers the same jsapi_ticket until it expires, then a new one', async () => {
    const token = await oaToken();
    const first = await get('/cgi-bin/ticket/getticket', { access_token: token, type: 'jsapi' });
    expect(first).toEqual({ errcode: 0, errmsg: 'ok', ticket: expect.any(String), expires_in: 7200 });
    clock += 3600_000;
    const again = await get('/cgi-bin/ticket/getticket', { access_token: token, type: 'jsapi' });
    expect(again).toMatchObject({ ticket: first.ticket, expires_in: 3600 });
    expect(emulator.issuedSecrets()).toContain(first.ticket);
    clock += 3600_000;
    const token2 = await oaToken();
    const renewed = await get('/cgi-bin/ticket/getticket', { access_token: token2, type: 'jsapi' });
    expect(renewed.ticket).not.toBe(first.ticket);
    expectError(await get('/cgi-bin/ticket/getticket', { access_token: token2 }), 40097);
  });
});
