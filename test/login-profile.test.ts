import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { encryptUserData } from '../src/wechat/open-data.crypto.js';
import { clientOf, type Client } from './support/client.js';
import { errorCode } from './support/graphql.js';
import { expectNoSecretsIn } from './support/secrets.js';
import { APPS, MINI_LOGIN, startWorld, type World } from './support/world.js';

/**
 * Logins (test/login.test.ts in parts): the mini program's profile data (encryptedData, rawData
 * and its signature), what is kept of it and what is refused.
 */
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

describe('one account per person', () => {
  it('keeps a real nickname and avatar from encryptedData, and the session key only encrypted at rest', async () => {
    await w.emulatorPost('/__emulator/users', {
      key: 'dora',
      nickname: 'Dora',
      avatarUrl: 'https://img.example/dora/132',
    });
    const plain = (await c.login('mini', 'dora')).data!.wechatMiniLogin;
    expect(plain.user.nickname).toBeNull();
    const body = await miniLoginWithProfile('dora', { real: true });
    const user = body.data!.wechatMiniLogin.user;
    expect(user.id).toBe(plain.user.id);
    expect(user.nickname).toBe('Dora');
    expect(user.avatarUrl).toBe('https://img.example/dora/132');

    const sessionKey = w.emulator.sessionKeyOf(APPS.mini.appid, 'dora')!;
    const rows = await c.sql<{ access_code: string }>(
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
    const first = (await c.login('web', 'eve')).data!.wechatWebLogin;
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

  it('takes the unionId only from WeChat’s answer, never from encryptedData', async () => {
    const unbound = await startWorld({ apps: { mini: { ...APPS.mini, bound: false } } });
    try {
      const u = clientOf(unbound);
      const code = await u.code('mini', 'uli');
      const sessionKey = unbound.emulator.sessionKeyOf(APPS.mini.appid, 'uli')!;
      const iv = randomBytes(16);
      const forged = {
        nickName: 'Uli',
        unionId: 'o_forged_union_of_someone_else',
        watermark: { appid: APPS.mini.appid, timestamp: Math.floor(Date.now() / 1000) },
      };
      const body = await u.run('WechatMiniLogin', {
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
  return c.run('WechatMiniLogin', { input: { code, ...tamper(data) } });
}

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
    const body = await c.gql(MINI_LOGIN, {
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
    const body = await c.gql(MINI_LOGIN, { input: { code: 'somecode', ...extra } });
    expect(errorCode(body)).toBe('BAD_USER_INPUT');
    expect(body.errors![0]!.extensions!.field).toBe(field);
    expect(await w.wechatCalls()).toEqual([]);
  });

  it.each([[''], ['x'.repeat(300)], ['code with space'], ['码']])(
    'answers code %j with BAD_USER_INPUT',
    async (code) => {
      expect(errorCode(await c.gql(MINI_LOGIN, { input: { code } }))).toBe('BAD_USER_INPUT');
    },
  );
});
