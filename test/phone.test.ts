import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { toUserType } from '../src/graphql/types/mappers.js';
import { User } from '../src/identity/user.entity.js';
import { errorCode } from './support/graphql.js';
import { bearer, clientOf, type Client } from './support/client.js';
import { APPS, startWorld, type World } from './support/world.js';

/** A second mini program the emulator plays but this server is not configured with. */
const OTHER_MINI = { appid: 'wxothermini', secret: 'secret-other-7d1e', kind: 'mini', bound: true } as const;

const BIND = `mutation ($code: String!, $appId: String) {
  bindWechatPhoneNumber(code: $code, appId: $appId) { id phoneNumber }
}`;
const ME = `query { me { id phoneNumber } }`;
const PHONE_PATH = '/wxa/business/getuserphonenumber';

let w: World;
let c: Client;
/** Every GraphQL response body of this file, scanned for the numbers and tokens at the end. */
const responses: string[] = [];
/** Every phone number the emulator was asked to give, national and international, and every phone code. */
const numbers: string[] = [];
const phoneCodes: string[] = [];

/** What the getPhoneNumber button gives the mini program: a code for that person's number. */
async function phoneCode(
  user: string,
  phoneNumber: string,
  extra: { appid?: string; countryCode?: string | number; watermarkAppid?: string } = {},
): Promise<string> {
  numbers.push(phoneNumber, `${extra.countryCode ?? 86}${phoneNumber}`);
  const { code } = await w.emulatorPost<{ code: string }>('/__emulator/phone-codes', {
    appid: APPS.mini.appid,
    user,
    phoneNumber,
    ...extra,
  });
  phoneCodes.push(code);
  return code;
}

async function bind(token: string, code: string, appId?: string) {
  return c.gql<{ bindWechatPhoneNumber: { id: string; phoneNumber: string | null } }>(
    BIND,
    { code, ...(appId !== undefined ? { appId } : {}) },
    bearer(token),
  );
}

/** The user's row as stored: phone number and last change. */
async function stored(userId: string): Promise<{ phone_number: string | null; updated_at: Date }> {
  const [row] = await c.sql<{ phone_number: string | null; updated_at: Date }>(
    `select phone_number, updated_at from "user" where id = ?`,
    [userId],
  );
  return row!;
}

/** WeChat calls of one path the emulator has answered since it started. */
async function callsOf(path: string): Promise<number> {
  const { calls } = (await (await fetch(`${w.emulator.url}/__emulator/stats`)).json()) as {
    calls: Record<string, number>;
  };
  return calls[path] ?? 0;
}

beforeAll(async () => {
  w = await startWorld({ extraApps: [OTHER_MINI] });
  c = clientOf(w, { onBody: (body) => responses.push(JSON.stringify(body)) });
});
afterAll(async () => {
  await w?.stop();
});

describe('bindWechatPhoneNumber', () => {
  it('stores the number of a phone code on the signed-in user in E.164 and shows it on me', async () => {
    const ann = await c.loginAs('mini', 'ann');
    const bound = await bind(ann.accessToken, await phoneCode('ann', '13800138000'));
    expect(bound).toEqual({
      data: { bindWechatPhoneNumber: { id: ann.user.id, phoneNumber: '+8613800138000' } },
    });
    expect(await c.gql(ME, {}, bearer(ann.accessToken))).toEqual({
      data: { me: { id: ann.user.id, phoneNumber: '+8613800138000' } },
    });
    expect((await stored(ann.user.id)).phone_number).toBe('+8613800138000');
    // Her next login's payload is hers too: it shows the number (the one-statement returning login).
    const again = await c.loginAs('mini', 'ann');
    expect(again.user.id).toBe(ann.user.id);
    const login = await c.gql<{ wechatMiniLogin: { user: { phoneNumber: string } } }>(
      `mutation ($input: WechatMiniLoginInput!) { wechatMiniLogin(input: $input) { user { phoneNumber } } }`,
      { input: { code: await w.code(APPS.mini.appid, 'ann') } },
    );
    expect(login.data!.wechatMiniLogin.user.phoneNumber).toBe('+8613800138000');
  });

  it('takes countryCode as WeChat sends it, a string or a number, and replaces an earlier number', async () => {
    const ben = await c.loginAs('mini', 'ben');
    const us = await bind(ben.accessToken, await phoneCode('ben', '2025550123', { countryCode: 1 }));
    expect(us.data!.bindWechatPhoneNumber.phoneNumber).toBe('+12025550123');
    const hk = await bind(ben.accessToken, await phoneCode('ben', '91234567', { countryCode: '852' }));
    expect(hk.data!.bindWechatPhoneNumber.phoneNumber).toBe('+85291234567');
    expect((await stored(ben.user.id)).phone_number).toBe('+85291234567');
  });

  it('answers UNAUTHENTICATED without a bearer or with a forged one, before calling WeChat', async () => {
    const cal = await c.loginAs('mini', 'cal');
    const code = await phoneCode('cal', '13900139000');
    const before = await callsOf(PHONE_PATH);
    const anonymous = await c.gql(BIND, { code });
    expect(errorCode(anonymous)).toBe('UNAUTHENTICATED');
    expect(anonymous.data).toBeNull();
    const forged = cal.accessToken.slice(0, -2) + (cal.accessToken.endsWith('AA') ? 'BB' : 'AA');
    expect(errorCode(await c.gql(BIND, { code }, bearer(forged)))).toBe('UNAUTHENTICATED');
    expect(await callsOf(PHONE_PATH)).toBe(before);
    // The code was not spent: the signed-in person can still use it.
    expect((await bind(cal.accessToken, code)).data!.bindWechatPhoneNumber.phoneNumber).toBe(
      '+8613900139000',
    );
  });

  it('refuses a used, expired, login or other mini program’s code as a phone-number code, writing nothing', async () => {
    const dee = await c.loginAs('mini', 'dee');
    const used = await phoneCode('dee', '13700137000');
    expect((await bind(dee.accessToken, used)).errors).toBeUndefined();
    const before = await stored(dee.user.id);

    const expired = await phoneCode('dee', '13711111111');
    await w.emulatorPost('/__emulator/clock', { advanceMs: 5 * 60_000 + 1000 });
    const foreign = await phoneCode('dee', '13722222222', { appid: OTHER_MINI.appid });
    const loginCode = await w.code(APPS.mini.appid, 'dee');
    for (const code of [used, expired, foreign, loginCode]) {
      const body = await bind(dee.accessToken, code);
      expect(errorCode(body)).toBe('WECHAT_INVALID_CODE');
      expect(body.errors![0]!.extensions).toMatchObject({ field: 'code', wechatErrcode: 40029 });
      expect(body.errors![0]!.message).toMatch(/phone-number code.*tap the phone-number button again/);
      expect(body.data).toBeNull();
    }
    expect(await stored(dee.user.id)).toEqual(before);
  });

  it.each([[''], ['x'.repeat(300)], ['code with space'], ['码']])(
    'answers code %j with BAD_USER_INPUT naming code, before calling WeChat',
    async (code) => {
      const eve = await c.loginAs('mini', 'eve');
      const before = await callsOf(PHONE_PATH);
      const body = await bind(eve.accessToken, code);
      expect(errorCode(body)).toBe('BAD_USER_INPUT');
      expect(body.errors![0]!.extensions!.field).toBe('code');
      expect(await callsOf(PHONE_PATH)).toBe(before);
      expect((await stored(eve.user.id)).phone_number).toBeNull();
    },
  );

  it('takes appId naming the configured mini program, and answers another with BAD_USER_INPUT naming appId', async () => {
    const fay = await c.loginAs('mini', 'fay');
    const other = await bind(fay.accessToken, await phoneCode('fay', '13600136000'), OTHER_MINI.appid);
    expect(errorCode(other)).toBe('BAD_USER_INPUT');
    expect(other.errors![0]!.extensions!.field).toBe('appId');
    const named = await bind(fay.accessToken, await phoneCode('fay', '13600136000'), APPS.mini.appid);
    expect(named.data!.bindWechatPhoneNumber.phoneNumber).toBe('+8613600136000');
  });

  it('refuses an answer whose watermark names another app (WECHAT_CONFIG_ERROR), writing nothing', async () => {
    const gus = await c.loginAs('mini', 'gus');
    const code = await phoneCode('gus', '13500135000', { watermarkAppid: OTHER_MINI.appid });
    const body = await bind(gus.accessToken, code);
    expect(errorCode(body)).toBe('WECHAT_CONFIG_ERROR');
    expect((await stored(gus.user.id)).phone_number).toBeNull();
    expect(w.t.log.text()).toContain('getuserphonenumber answered with another app’s watermark');
  });

  it('answers PLATFORM_NOT_CONFIGURED on a server without a mini program', async () => {
    const noMini = await startWorld({ env: { WECHAT_MINI_APPID: '', WECHAT_MINI_SECRET: '' } });
    try {
      const login = await clientOf(noMini).login('app', 'hal');
      const body = await noMini.gql(BIND, { code: 'abc' }, bearer(login.data!.wechatAppLogin.accessToken));
      expect(errorCode(body)).toBe('PLATFORM_NOT_CONFIGURED');
      expect(await noMini.wechatCalls()).toEqual(['/sns/oauth2/access_token', '/sns/userinfo']);
    } finally {
      await noMini.stop();
    }
  });
});

describe('wechatMiniLogin with phoneCode', () => {
  const LOGIN = `mutation ($input: WechatMiniLoginInput!) {
    wechatMiniLogin(input: $input) { accessToken isNewUser user { id phoneNumber } }
  }`;
  type Login = {
    wechatMiniLogin: { accessToken: string; isNewUser: boolean; user: { id: string; phoneNumber: string } };
  };

  it('registers a new user with the number, in the login’s own transaction, and shows it on me', async () => {
    const before = await w.counts();
    const body = await c.gql<Login>(LOGIN, {
      input: { code: await w.code(APPS.mini.appid, 'ida'), phoneCode: await phoneCode('ida', '13400134000') },
    });
    expect(body.errors).toBeUndefined();
    const login = body.data!.wechatMiniLogin;
    expect(login).toMatchObject({ isNewUser: true, user: { phoneNumber: '+8613400134000' } });
    expect((await stored(login.user.id)).phone_number).toBe('+8613400134000');
    expect(await w.counts()).toEqual({
      users: before.users + 1,
      methods: before.methods + 1,
      sessions: before.sessions + 1,
    });
    expect(await c.gql(ME, {}, bearer(login.accessToken))).toEqual({
      data: { me: { id: login.user.id, phoneNumber: '+8613400134000' } },
    });
  });

  it('gives a returning user the new number (the full login path, not the one-statement one)', async () => {
    const jon = await c.loginAs('mini', 'jon');
    const body = await c.gql<Login>(LOGIN, {
      input: { code: await w.code(APPS.mini.appid, 'jon'), phoneCode: await phoneCode('jon', '13300133000') },
    });
    expect(body.data!.wechatMiniLogin).toMatchObject({
      isNewUser: false,
      user: { id: jon.user.id, phoneNumber: '+8613300133000' },
    });
    expect((await stored(jon.user.id)).phone_number).toBe('+8613300133000');
  });

  it('refuses a bad phone code naming phoneCode, writing nothing; a new wx.login and a new tap log in', async () => {
    const used = await phoneCode('kim', '13200132000');
    expect((await bind((await c.loginAs('mini', 'kim')).accessToken, used)).errors).toBeUndefined();
    const [jscode, phone] = [await callsOf('/sns/jscode2session'), await callsOf(PHONE_PATH)];
    const before = await w.counts();

    const body = await c.gql<Login>(LOGIN, {
      input: { code: await w.code(APPS.mini.appid, 'kim'), phoneCode: used },
    });
    expect(errorCode(body)).toBe('WECHAT_INVALID_CODE');
    expect(body.errors![0]!.extensions).toMatchObject({ field: 'phoneCode', wechatErrcode: 40029 });
    expect(body.errors![0]!.message).toMatch(/phone-number code/);
    // The login code first (free), the phone code after it (WeChat bills numbers).
    expect(await callsOf('/sns/jscode2session')).toBe(jscode + 1);
    expect(await callsOf(PHONE_PATH)).toBe(phone + 1);
    expect(await w.counts()).toEqual(before);

    const again = await c.gql<Login>(LOGIN, {
      input: { code: await w.code(APPS.mini.appid, 'kim'), phoneCode: await phoneCode('kim', '13200132001') },
    });
    expect(again.errors).toBeUndefined();
    expect(again.data!.wechatMiniLogin.user.phoneNumber).toBe('+8613200132001');
  });

  it('does not spend the phone code when the login fails first (a used wx.login code)', async () => {
    const code = await w.code(APPS.mini.appid, 'max');
    expect((await c.gql(LOGIN, { input: { code } })).errors).toBeUndefined();
    const phone = await callsOf(PHONE_PATH);
    const tap = await phoneCode('max', '13200132002');
    const body = await c.gql<Login>(LOGIN, { input: { code, phoneCode: tap } });
    expect(errorCode(body)).toBe('WECHAT_INVALID_CODE');
    expect(body.errors![0]!.extensions!.field).toBe('code');
    expect(await callsOf(PHONE_PATH)).toBe(phone);
    // The same tap still works with a new login code.
    const again = await c.gql<Login>(LOGIN, {
      input: { code: await w.code(APPS.mini.appid, 'max'), phoneCode: tap },
    });
    expect(again.data!.wechatMiniLogin.user.phoneNumber).toBe('+8613200132002');
  });

  it('refuses another person’s phone code: WeChat checks it against the openid of the login or of the bound user', async () => {
    const nia = await c.loginAs('mini', 'nia');
    const ola = await phoneCode('ola', '13200132003');
    const before = await w.counts();
    const login = await c.gql<Login>(LOGIN, {
      input: { code: await w.code(APPS.mini.appid, 'nia'), phoneCode: ola },
    });
    expect(errorCode(login)).toBe('WECHAT_INVALID_CODE');
    expect(login.errors![0]!.extensions).toMatchObject({ field: 'phoneCode', wechatErrcode: 40003 });
    expect(login.errors![0]!.message).toMatch(/another WeChat user/);
    const bound = await bind(nia.accessToken, await phoneCode('ola', '13200132004'));
    expect(errorCode(bound)).toBe('WECHAT_INVALID_CODE');
    expect(bound.errors![0]!.extensions!.field).toBe('code');
    expect((await stored(nia.user.id)).phone_number).toBeNull();
    expect(await w.counts()).toEqual(before);
  });

  it('keeps a refused login code apart from the phone code: field code, a message about the login code', async () => {
    const code = await w.code(APPS.mini.appid, 'lou');
    await c.gql(LOGIN, { input: { code } });
    const before = await w.counts();
    const body = await c.gql<Login>(LOGIN, {
      input: { code, phoneCode: await phoneCode('lou', '13100131000') },
    });
    expect(errorCode(body)).toBe('WECHAT_INVALID_CODE');
    expect(body.errors![0]!.extensions!.field).toBe('code');
    expect(body.errors![0]!.message).toMatch(/login code/);
    expect(body.errors![0]!.message).not.toMatch(/phone/);
    expect(await w.counts()).toEqual(before);
  });

  it.each([[''], ['x'.repeat(300)], ['码']])(
    'answers phoneCode %j with BAD_USER_INPUT naming phoneCode, before calling WeChat',
    async (bad) => {
      const before = await Promise.all([callsOf('/sns/jscode2session'), callsOf(PHONE_PATH)]);
      const body = await c.gql(LOGIN, { input: { code: 'somecode', phoneCode: bad } });
      expect(errorCode(body)).toBe('BAD_USER_INPUT');
      expect(body.errors![0]!.extensions!.field).toBe('phoneCode');
      expect(await Promise.all([callsOf('/sns/jscode2session'), callsOf(PHONE_PATH)])).toEqual(before);
    },
  );
});

describe('who sees a phone number', () => {
  it('gives it to the user themselves only: null for any other viewer', () => {
    const user = Object.assign(new User(), { id: 'u1', phoneNumber: '+8613800138000' });
    expect(toUserType(user, { userId: 'u1', sessionId: 's1' }).phoneNumber).toBe('+8613800138000');
    expect(toUserType(user, { userId: 'u2', sessionId: 's2' }).phoneNumber).toBeNull();
    expect(toUserType(user, null).phoneNumber).toBeNull();
  });
});

describe('secrets', () => {
  it('never puts a phone number, a phone code or the app access token in a log line, nor the token in a response', async () => {
    const log = w.t.log.text();
    expect(w.t.log.lines.length).toBeGreaterThan(20);
    expect(numbers.length).toBeGreaterThan(10);
    for (const secret of [...numbers, ...phoneCodes]) expect(log).not.toContain(secret);
    const appTokens = w.emulator.issuedSecrets();
    expect(appTokens.length).toBeGreaterThan(3);
    for (const secret of appTokens) {
      expect(log).not.toContain(secret);
      for (const body of responses) expect(body).not.toContain(secret);
    }
    expect(log).toContain('WeChat app access token fetched');
  });
});
