import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { APP_LOGIN, APPS, MINI_LOGIN, startWorld, type World } from './support/world.js';
import { errorCode } from './support/graphql.js';

let w: World;
beforeAll(async () => {
  w = await startWorld({ env: { WECHAT_TIMEOUT_MS: '500' } });
});
afterAll(async () => {
  await w?.stop();
});
beforeEach(async () => {
  await w.emulatorPost('/__emulator/reset', {});
});

async function mini(user = 'ann') {
  return w.gql(MINI_LOGIN, { input: { code: await w.code(APPS.mini.appid, user) } });
}

const FAULTS: [string, Record<string, unknown>, string][] = [
  ['errcode -1', { errcode: -1 }, 'WECHAT_UNAVAILABLE'],
  ['HTTP 502', { status: 502 }, 'WECHAT_UNAVAILABLE'],
  ['a body that is not JSON', { malformed: true }, 'WECHAT_UNAVAILABLE'],
  ['a dropped connection', { drop: true }, 'WECHAT_UNAVAILABLE'],
  ['an answer slower than the timeout', { delayMs: 1500 }, 'WECHAT_UNAVAILABLE'],
  ['45011 (quota)', { errcode: 45011 }, 'WECHAT_RATE_LIMITED'],
];

/** The code exchanges: a failure fails the login (nothing else could be done with the code). */
const EXCHANGES = [
  { path: '/sns/jscode2session', login: () => mini() },
  { path: '/sns/oauth2/access_token', login: () => app() },
];

/** userinfo is retried (3 attempts) after -1, 5xx and resets; never after a timeout or 45011. */
const userInfoAttempts = (fault: Record<string, unknown>) =>
  fault.errcode === -1 || fault.status || fault.drop ? 3 : 1;

let fresh = 0;
async function app(user = `new-${fresh++}`) {
  return w.gql<{ wechatAppLogin: { isNewUser: boolean; user: { nickname: string | null } } }>(APP_LOGIN, {
    input: { code: await w.code(APPS.app.appid, user) },
  });
}

describe('WeChat failures', () => {
  const table = EXCHANGES.flatMap((call) =>
    FAULTS.map(([label, fault, expected]) => [call.path, label, call, fault, expected] as const),
  );

  it.each(table)(
    '%s answering %s gives the client a typed error in bounded time, writes no row, and the next login works',
    async (path, _label, call, fault, expected) => {
      const before = await w.counts();
      await w.emulatorPost('/__emulator/faults', { path, ...fault });
      const started = Date.now();
      const body = await call.login();
      const elapsed = Date.now() - started;
      expect(errorCode(body)).toBe(expected);
      // Timeout 500 ms: well under 2 s in all.
      expect(elapsed).toBeLessThan(2000);
      // The emulator logs a delayed call once it has answered it.
      if ('delayMs' in fault) await new Promise((resolve) => setTimeout(resolve, Number(fault.delayMs)));
      // A code is single use: an exchange that may have reached WeChat is never replayed.
      expect((await w.wechatCalls()).filter((p) => p === path)).toHaveLength(1);
      expect(await w.counts()).toEqual(before);
      expect(JSON.stringify(body)).not.toMatch(/secret|errmsg|rid:/);
      expect((await call.login()).errors).toBeUndefined();
    },
  );

  it.each(FAULTS)(
    '/sns/userinfo answering %s, after the code is spent: the login succeeds in bounded time, without a profile',
    async (_label, fault) => {
      const before = await w.counts();
      const attempts = userInfoAttempts(fault);
      await w.emulatorPost('/__emulator/faults', { path: '/sns/userinfo', times: attempts, ...fault });
      const started = Date.now();
      const body = await app();
      const elapsed = Date.now() - started;
      expect(body.errors).toBeUndefined();
      expect(body.data!.wechatAppLogin).toMatchObject({ isNewUser: true, user: { nickname: null } });
      // Timeout 500 ms; retries back off 100 + 200 ms (plus jitter): well under 2 s in all.
      expect(elapsed).toBeLessThan(2000);
      if ('delayMs' in fault) await new Promise((resolve) => setTimeout(resolve, Number(fault.delayMs)));
      expect((await w.wechatCalls()).filter((p) => p === '/sns/userinfo')).toHaveLength(attempts);
      expect((await w.counts()).users).toBe(before.users + 1);
      expect(JSON.stringify(body)).not.toMatch(/secret|errmsg|rid:/);
    },
  );
});

describe('the WeChat client', () => {
  it.each([
    [{ errcode: 40226 }, 'WECHAT_CODE_BLOCKED'],
    [{ errcode: 40125 }, 'WECHAT_CONFIG_ERROR'],
    [{ errcode: 40029 }, 'WECHAT_INVALID_CODE'],
  ])('maps a code exchange answered with %j to %s', async (fault, expected) => {
    await w.emulatorPost('/__emulator/faults', { path: '/sns/jscode2session', ...fault });
    expect(errorCode(await mini())).toBe(expected);
  });

  it('retries userinfo (an idempotent read) after -1 and a 5xx, and the login succeeds', async () => {
    await w.emulatorPost('/__emulator/faults', { path: '/sns/userinfo', errcode: -1 });
    await w.emulatorPost('/__emulator/faults', { path: '/sns/userinfo', status: 503 });
    const body = await w.gql(APP_LOGIN, { input: { code: await w.code(APPS.app.appid, 'bea') } });
    expect(body.errors).toBeUndefined();
    expect(await w.wechatCalls()).toEqual([
      '/sns/oauth2/access_token',
      '/sns/userinfo',
      '/sns/userinfo',
      '/sns/userinfo',
    ]);
  });

  it('gives up on userinfo after 3 attempts and signs in without a profile', async () => {
    await w.emulatorPost('/__emulator/faults', { path: '/sns/userinfo', errcode: -1, times: 3 });
    const body = await app('cal');
    expect(body.errors).toBeUndefined();
    expect(body.data!.wechatAppLogin.user.nickname).toBeNull();
    expect((await w.wechatCalls()).filter((p) => p === '/sns/userinfo')).toHaveLength(3);
  });

  it('keeps WeChat config details out of the client’s answer', async () => {
    await w.emulatorPost('/__emulator/faults', { path: '/sns/oauth2/access_token', errcode: 40164 });
    const body = await w.gql(APP_LOGIN, { input: { code: 'whatever' } });
    expect(errorCode(body)).toBe('WECHAT_CONFIG_ERROR');
    expect(body.errors![0]!.extensions).toEqual({ code: 'WECHAT_CONFIG_ERROR' });
    expect(w.t.log.text()).toContain('"errcode":40164');
  });

  it('retries a code exchange whose connection was refused (it never reached WeChat)', async () => {
    const refused = await startWorld({
      env: { WECHAT_API_BASE_URL: 'http://127.0.0.1:1', WECHAT_TIMEOUT_MS: '500' },
    });
    try {
      const body = await refused.gql(MINI_LOGIN, { input: { code: 'abc' } });
      expect(errorCode(body)).toBe('WECHAT_UNAVAILABLE');
      const attempts = refused.t.log.lines.filter((l) => l.includes('ECONNREFUSED'));
      expect(attempts).toHaveLength(3);
    } finally {
      await refused.stop();
    }
  });
});

describe('after all those failures', () => {
  it('logged no secret: app secrets, codes, session keys and WeChat tokens stay out of the log', () => {
    const log = w.t.log.text();
    expect(w.t.log.lines.length).toBeGreaterThan(50);
    for (const secret of w.emulator.issuedSecrets()) expect(log).not.toContain(secret);
    expect(log).not.toMatch(/js_code=|secret=|access_token=/);
  });
});
