import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { clientOf, type Client } from './support/client.js';
import type { WechatOfficialAccountAuthorizeUrlQueryVariables } from './support/gql/graphql.js';
import { errorCode } from './support/graphql.js';
import { APPS, startWorld, type World } from './support/world.js';

const REDIRECT = 'https://m.site.example/wechat/back';

let w: World;
let c: Client;

beforeAll(async () => {
  w = await startWorld();
  c = clientOf(w, { redirectUri: REDIRECT });
});

afterAll(async () => {
  await w?.stop();
});

/** An authorize URL of the official account (for REDIRECT unless told), which must be made. */
async function oaAuthorize(
  variables: Partial<WechatOfficialAccountAuthorizeUrlQueryVariables> = {},
  client = c,
) {
  const body = await client.run('WechatOfficialAccountAuthorizeUrl', { redirectUri: REDIRECT, ...variables });
  expect(body.errors).toBeUndefined();
  return body.data!.wechatOfficialAccountAuthorizeUrl;
}

describe('official account pages', () => {
  it('builds WeChat’s authorize URL in its parameter order, USERINFO by default, BASE on request', async () => {
    const { url, state } = await oaAuthorize();
    expect(url).toBe(
      `${w.emulator.url}/connect/oauth2/authorize?appid=${APPS.official.appid}` +
        `&redirect_uri=${encodeURIComponent(REDIRECT)}&response_type=code&scope=snsapi_userinfo` +
        `&state=${state}#wechat_redirect`,
    );
    expect(state).toMatch(/^[a-zA-Z0-9]{1,128}$/);
    const base = await oaAuthorize({ scope: 'BASE' });
    expect(new URL(base.url).searchParams.get('scope')).toBe('snsapi_base');
    // The emulator's page takes the URL as it is.
    expect((await fetch(base.url)).status).toBe(200);
  });

  it('USERINFO: registers with the profile and the unionId, so the mini program finds the same user', async () => {
    const { state } = await oaAuthorize();
    await w.emulatorPost('/__emulator/reset', {});
    const first = await c.login('official', 'olga', { state, redirectUri: REDIRECT });
    expect(first.errors).toBeUndefined();
    const payload = first.data!.wechatOfficialAccountLogin;
    expect(payload.isNewUser).toBe(true);
    expect(payload.user.nickname).toBe('olga');
    expect(payload.user.loginMethods).toEqual([
      expect.objectContaining({
        kind: 'WECHAT_OFFICIAL_ACCOUNT',
        appId: APPS.official.appid,
        unionId: expect.any(String),
      }),
    ]);
    expect(await w.wechatCalls()).toEqual(['/sns/oauth2/access_token', '/sns/userinfo']);

    const mini = await c.login('mini', 'olga');
    expect(mini.data!.wechatMiniLogin.user.id).toBe(payload.user.id);
    expect(mini.data!.wechatMiniLogin.user.loginMethods.map((m) => m.kind)).toEqual([
      'WECHAT_OFFICIAL_ACCOUNT',
      'WECHAT_MINI',
    ]);

    // Again within a day: one exchange, no userinfo.
    await w.emulatorPost('/__emulator/reset', {});
    const again = await c.login('official', 'olga', { state: (await oaAuthorize()).state });
    expect(again.data!.wechatOfficialAccountLogin).toMatchObject({
      isNewUser: false,
      user: { id: payload.user.id },
    });
    expect(await w.wechatCalls()).toEqual(['/sns/oauth2/access_token']);
  });

  it('BASE: silent, openid only: no unionId, no userinfo call, a user of its own', async () => {
    const { state } = await oaAuthorize({ scope: 'BASE' });
    await w.emulatorPost('/__emulator/reset', {});
    const body = await c.run('WechatOfficialAccountLogin', {
      input: { code: await c.code('official', 'basil', 'snsapi_base'), state },
    });
    expect(body.errors).toBeUndefined();
    const payload = body.data!.wechatOfficialAccountLogin;
    expect(payload.isNewUser).toBe(true);
    expect(payload.user.nickname).toBeNull();
    expect(payload.user.loginMethods).toEqual([
      expect.objectContaining({ kind: 'WECHAT_OFFICIAL_ACCOUNT', unionId: null }),
    ]);
    // userinfo with a snsapi_base token is WeChat's 48001: never asked.
    expect(await w.wechatCalls()).toEqual(['/sns/oauth2/access_token']);

    const again = await c.run('WechatOfficialAccountLogin', {
      input: {
        code: await c.code('official', 'basil', 'snsapi_base'),
        state: (await oaAuthorize({ scope: 'BASE' })).state,
      },
    });
    expect(again.data!.wechatOfficialAccountLogin).toMatchObject({
      isNewUser: false,
      user: { id: payload.user.id },
    });
  });

  it('refuses a snapshot-mode virtual account with WECHAT_SNAPSHOT_USER and writes nothing', async () => {
    await c.login('official', 'sara', { state: (await oaAuthorize()).state });
    const before = await w.counts();
    await w.emulatorPost('/__emulator/reset', {});
    const { code } = await w.emulatorPost<{ code: string }>('/__emulator/codes', {
      appid: APPS.official.appid,
      user: 'sara',
      scope: 'snsapi_userinfo',
      snapshot: true,
    });
    const body = await c.run('WechatOfficialAccountLogin', {
      input: { code, state: (await oaAuthorize()).state },
    });
    expect(errorCode(body)).toBe('WECHAT_SNAPSHOT_USER');
    expect(body.errors![0]!.message).toMatch(/snapshot mode .* open the page again for real/);
    expect(body.data).toBeNull();
    // The exchange only: no userinfo, no row, no session.
    expect(await w.wechatCalls()).toEqual(['/sns/oauth2/access_token']);
    expect(await w.counts()).toEqual(before);
  });

  it('takes a USERINFO token that userinfo refuses (48001) for a snapshot account whose exchange did not say so', async () => {
    const before = await w.counts();
    await w.emulatorPost('/__emulator/faults', { path: '/sns/userinfo', errcode: 48001 });
    const body = await c.login('official', 'tess', { state: (await oaAuthorize()).state });
    expect(errorCode(body)).toBe('WECHAT_SNAPSHOT_USER');
    expect(await w.counts()).toEqual(before);
  });

  it('signs in without a profile when userinfo keeps failing (-1), and asks again next time', async () => {
    // userinfo is a read: tried three times.
    await w.emulatorPost('/__emulator/faults', { path: '/sns/userinfo', errcode: -1, times: 3 });
    const body = await c.login('official', 'uma', { state: (await oaAuthorize()).state });
    expect(body.errors).toBeUndefined();
    const { user } = body.data!.wechatOfficialAccountLogin;
    expect(user.nickname).toBeNull();
    const next = await c.login('official', 'uma', { state: (await oaAuthorize()).state });
    expect(next.data!.wechatOfficialAccountLogin.user).toMatchObject({ id: user.id, nickname: 'uma' });
  });

  it('refuses another app’s state, a reused state and a redirect URI not allowed, before calling WeChat', async () => {
    const web = await c.run('WechatWebAuthorizeUrl', { redirectUri: REDIRECT });
    const webState = web.data!.wechatWebAuthorizeUrl.state;
    const oa = await oaAuthorize();
    await w.emulatorPost('/__emulator/reset', {});
    const code = await c.code('official', 'ivan');

    const crossed = await c.run('WechatOfficialAccountLogin', { input: { code, state: webState } });
    expect(errorCode(crossed)).toBe('INVALID_STATE');
    expect(crossed.errors![0]!.message).toMatch(/another app/);
    const crossedBack = await c.run('WechatWebLogin', { input: { code, state: oa.state } });
    expect(errorCode(crossedBack)).toBe('INVALID_STATE');
    expect(
      errorCode(
        await c.run('WechatOfficialAccountLogin', {
          input: { code, state: oa.state, redirectUri: 'https://evil.example/cb' },
        }),
      ),
    ).toBe('INVALID_STATE');
    expect(await w.wechatCalls()).toEqual([]);

    const fresh = await oaAuthorize();
    expect(
      (await c.run('WechatOfficialAccountLogin', { input: { code, state: fresh.state } })).errors,
    ).toBeUndefined();
    const reused = await c.login('official', 'ivan', { state: fresh.state });
    expect(errorCode(reused)).toBe('INVALID_STATE');
    expect(reused.errors![0]!.message).toMatch(/already been used/);
  });

  it('answers used and foreign codes with WECHAT_INVALID_CODE and writes no row', async () => {
    const code = await c.code('official', 'yan');
    expect(
      (await c.run('WechatOfficialAccountLogin', { input: { code, state: (await oaAuthorize()).state } }))
        .errors,
    ).toBeUndefined();
    const before = await w.counts();
    const used = await c.run('WechatOfficialAccountLogin', {
      input: { code, state: (await oaAuthorize()).state },
    });
    expect(errorCode(used)).toBe('WECHAT_INVALID_CODE');
    expect(used.errors![0]!.extensions!.wechatErrcode).toBe(40163);
    const foreign = await c.run('WechatOfficialAccountLogin', {
      input: { code: await c.code('web', 'yan'), state: (await oaAuthorize()).state },
    });
    expect(errorCode(foreign)).toBe('WECHAT_INVALID_CODE');
    expect(await w.counts()).toEqual(before);
  });

  it('binds a state to its PKCE codeChallenge', async () => {
    const verifier = 'v'.repeat(43);
    const { createHash } = await import('node:crypto');
    const codeChallenge = createHash('sha256').update(verifier).digest('base64url');
    const { state } = await oaAuthorize({ codeChallenge });
    expect(errorCode(await c.login('official', 'pia', { state }))).toBe('INVALID_STATE');
    const { state: second } = await oaAuthorize({ codeChallenge });
    const ok = await c.login('official', 'pia', { state: second, codeVerifier: verifier });
    expect(ok.errors).toBeUndefined();
  });

  it('holds redirect URIs to WECHAT_OA_REDIRECT_URIS, and answers PLATFORM_NOT_CONFIGURED without an official account', async () => {
    const listed = await startWorld({ env: { WECHAT_OA_REDIRECT_URIS: REDIRECT } });
    try {
      const lc = clientOf(listed);
      expect(
        (await lc.run('WechatOfficialAccountAuthorizeUrl', { redirectUri: REDIRECT })).errors,
      ).toBeUndefined();
      const bad = await lc.run('WechatOfficialAccountAuthorizeUrl', {
        redirectUri: 'https://evil.example/cb',
      });
      expect(errorCode(bad)).toBe('INVALID_STATE');
      expect(bad.errors![0]!.message).toMatch(/WECHAT_OA_REDIRECT_URIS/);
    } finally {
      await listed.stop();
    }
    const none = await startWorld({ env: { WECHAT_OA_APPID: '', WECHAT_OA_SECRET: '' } });
    try {
      const nc = clientOf(none);
      expect(errorCode(await nc.run('WechatOfficialAccountAuthorizeUrl', { redirectUri: REDIRECT }))).toBe(
        'PLATFORM_NOT_CONFIGURED',
      );
      expect(
        errorCode(await nc.run('WechatOfficialAccountLogin', { input: { code: 'abc', state: 'x' } })),
      ).toBe('PLATFORM_NOT_CONFIGURED');
    } finally {
      await none.stop();
    }
  });
});

describe('several apps of one kind', () => {
  const MINI_2 = { appid: 'wxtestmini2', secret: 'secret-mini2-51ab9c', kind: 'mini', bound: true } as const;
  const OA_2 = { appid: 'wxtestoa2', secret: 'secret-oa2-0f6d2e', kind: 'official', bound: true } as const;
  let many: World;
  /** The client of `many`: its default apps, and the second ones. */
  let mc: Client;
  let mc2: Client;

  beforeAll(async () => {
    many = await startWorld({
      extraApps: [MINI_2, OA_2],
      env: {
        WECHAT_APPS: JSON.stringify([
          { kind: 'mini', appId: MINI_2.appid, secret: MINI_2.secret },
          { kind: 'official', appId: OA_2.appid, secret: OA_2.secret, redirectUris: [REDIRECT] },
        ]),
      },
    });
    mc = clientOf(many, { redirectUri: REDIRECT });
    mc2 = clientOf(many, { redirectUri: REDIRECT, appids: { mini: MINI_2.appid, official: OA_2.appid } });
  });

  afterAll(async () => {
    await many?.stop();
  });

  it('makes one user of one person across two mini programs, each login naming its appId', async () => {
    const first = await mc.login('mini', 'nina', { appId: APPS.mini.appid });
    const second = await mc2.login('mini', 'nina', { appId: MINI_2.appid });
    expect(first.errors).toBeUndefined();
    expect(second.errors).toBeUndefined();
    const user = second.data!.wechatMiniLogin.user;
    expect(user.id).toBe(first.data!.wechatMiniLogin.user.id);
    expect(second.data!.wechatMiniLogin.isNewUser).toBe(false);
    expect(user.loginMethods.map((m) => [m.kind, m.appId])).toEqual([
      ['WECHAT_MINI', APPS.mini.appid],
      ['WECHAT_MINI', MINI_2.appid],
    ]);
    // Each app has its own openid for the person, one unionId across both.
    expect(new Set(user.loginMethods.map((m) => m.openId)).size).toBe(2);
    expect(new Set(user.loginMethods.map((m) => m.unionId)).size).toBe(1);
  });

  it('answers BAD_USER_INPUT (field appId) when the appId is missing or not one of ours, before calling WeChat', async () => {
    await many.emulatorPost('/__emulator/reset', {});
    const code = await mc2.code('mini', 'otto');
    const missing = await mc.run('WechatMiniLogin', { input: { code } });
    expect(errorCode(missing)).toBe('BAD_USER_INPUT');
    expect(missing.errors![0]!.extensions!.field).toBe('appId');
    expect(missing.errors![0]!.message).toMatch(/2 mini program apps: name the one with appId/);
    for (const appId of ['wxunknown', APPS.web.appid]) {
      const unknown = await mc.run('WechatMiniLogin', { input: { code, appId } });
      expect(errorCode(unknown)).toBe('BAD_USER_INPUT');
      expect(unknown.errors![0]!.extensions!.field).toBe('appId');
    }
    expect(errorCode(await mc.run('WechatOfficialAccountAuthorizeUrl', { redirectUri: REDIRECT }))).toBe(
      'BAD_USER_INPUT',
    );
    expect(await many.wechatCalls()).toEqual([]);
    // One app of its kind: appId may be left out, and must be that app when given.
    expect((await mc.run('WechatWebAuthorizeUrl', { redirectUri: REDIRECT })).errors).toBeUndefined();
    const login = await mc.run('WechatMiniLogin', { input: { code, appId: MINI_2.appid } });
    expect(login.errors).toBeUndefined();
  });

  it('binds a phone number from either mini program, naming it, through each app’s own app token', async () => {
    const login = await mc2.login('mini', 'pia', { appId: MINI_2.appid });
    const bearer = { authorization: `Bearer ${login.data!.wechatMiniLogin.accessToken}` };
    const BIND = `mutation ($code: String!, $appId: String) { bindWechatPhoneNumber(code: $code, appId: $appId) { phoneNumber } }`;
    const phoneCode = async (appid: string, phoneNumber: string) =>
      (
        await many.emulatorPost<{ code: string }>('/__emulator/phone-codes', {
          appid,
          user: 'pia',
          phoneNumber,
        })
      ).code;

    const missing = await many.gql(BIND, { code: await phoneCode(MINI_2.appid, '13900000001') }, bearer);
    expect(errorCode(missing)).toBe('BAD_USER_INPUT');
    expect(missing.errors![0]!.extensions!.field).toBe('appId');

    for (const [appid, number] of [
      [MINI_2.appid, '13900000002'],
      [APPS.mini.appid, '13900000003'],
    ] as const) {
      const bound = await many.gql<{ bindWechatPhoneNumber: { phoneNumber: string } }>(
        BIND,
        { code: await phoneCode(appid, number), appId: appid },
        bearer,
      );
      expect(bound.errors).toBeUndefined();
      expect(bound.data!.bindWechatPhoneNumber.phoneNumber).toBe(`+86${number}`);
    }
    // A code of one mini program named as the other's: WeChat refuses it (another app's token).
    const crossed = await many.gql(
      BIND,
      { code: await phoneCode(MINI_2.appid, '13900000004'), appId: APPS.mini.appid },
      bearer,
    );
    expect(errorCode(crossed)).toBe('WECHAT_INVALID_CODE');
  });

  it('binds an official account state to the app it was made for; each app has its own redirect allowlist', async () => {
    const { state } = await oaAuthorize({ appId: OA_2.appid }, mc);
    await many.emulatorPost('/__emulator/reset', {});
    const code = await mc2.code('official', 'rita', 'snsapi_userinfo');
    const crossed = await mc.run('WechatOfficialAccountLogin', {
      input: { code, state, appId: APPS.official.appid },
    });
    expect(errorCode(crossed)).toBe('INVALID_STATE');
    expect(await many.wechatCalls()).toEqual([]);
    const { state: again } = await oaAuthorize({ appId: OA_2.appid }, mc);
    const ok = await mc.run('WechatOfficialAccountLogin', {
      input: { code, state: again, appId: OA_2.appid },
    });
    expect(ok.errors).toBeUndefined();
    expect(ok.data!.wechatOfficialAccountLogin.user.loginMethods[0]!.appId).toBe(OA_2.appid);

    // OA_2 lists REDIRECT only; the other official account takes any URI in development.
    const elsewhere = 'https://other.example/cb';
    expect(
      errorCode(
        await mc.run('WechatOfficialAccountAuthorizeUrl', { redirectUri: elsewhere, appId: OA_2.appid }),
      ),
    ).toBe('INVALID_STATE');
    expect(
      (
        await mc.run('WechatOfficialAccountAuthorizeUrl', {
          redirectUri: elsewhere,
          appId: APPS.official.appid,
        })
      ).errors,
    ).toBeUndefined();
  });
});
