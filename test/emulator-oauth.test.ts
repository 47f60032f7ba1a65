import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createEmulator, type Emulator } from '../src/emulator/emulator.js';
import { decryptUserData } from '../src/wechat/open-data.crypto.js';
import { EMULATOR_TEST_APPS as APPS, emulatorCalls, expectError, type Body } from './support/emulator.js';

/**
 * The WeChat emulator (src/emulator), OAuth for websites, apps and official accounts
 * (access_token, userinfo, auth, refresh_token), and identities: one person's openid per app and
 * unionid across bound apps.
 */

let clock = Date.parse('2026-11-21T00:00:00Z');
let emulator: Emulator;
const { get, post, code, jscode, oauth } = emulatorCalls(() => emulator.url);

beforeAll(async () => {
  emulator = await createEmulator({ apps: APPS, now: () => clock });
});
afterAll(async () => {
  await emulator?.close();
});
beforeEach(async () => {
  await post('/__emulator/reset', {});
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
