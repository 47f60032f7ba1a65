import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { APP_LOGIN, APPS, MINI_LOGIN, startWorld, type World } from './support/world.js';

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

const code = (body: { errors?: { extensions?: Record<string, unknown> }[] }) =>
  body.errors?.[0]?.extensions?.code;

async function mini(user = 'ann') {
  return w.gql(MINI_LOGIN, { input: { code: await w.code(APPS.mini.appid, user) } });
}

describe('the WeChat client', () => {
  it.each([
    [{ errcode: -1 }, 'WECHAT_UNAVAILABLE'],
    [{ status: 502 }, 'WECHAT_UNAVAILABLE'],
    [{ malformed: true }, 'WECHAT_UNAVAILABLE'],
    [{ drop: true }, 'WECHAT_UNAVAILABLE'],
    [{ delayMs: 1500 }, 'WECHAT_UNAVAILABLE'],
    [{ errcode: 45011 }, 'WECHAT_RATE_LIMITED'],
    [{ errcode: 40226 }, 'WECHAT_CODE_BLOCKED'],
    [{ errcode: 40125 }, 'WECHAT_CONFIG_ERROR'],
  ])(
    'maps a code exchange answered with %j to %s, sends it once, and writes no row',
    async (fault, expected) => {
      const before = await w.counts();
      await w.emulatorPost('/__emulator/faults', { path: '/sns/jscode2session', ...fault });
      const started = Date.now();
      const body = await mini();
      expect(code(body)).toBe(expected);
      expect(Date.now() - started).toBeLessThan(1500);
      // The emulator logs a delayed call once it has answered it.
      if ('delayMs' in fault) await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
      // A code is single use: a request that may have reached WeChat is never replayed.
      expect(await w.wechatCalls()).toEqual(['/sns/jscode2session']);
      expect(await w.counts()).toEqual(before);
      expect(JSON.stringify(body)).not.toMatch(/secret|errmsg|rid:/);
      // WeChat is back: the next login works.
      expect((await mini()).errors).toBeUndefined();
    },
  );

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

  it('gives up on userinfo after 3 attempts with WECHAT_UNAVAILABLE', async () => {
    await w.emulatorPost('/__emulator/faults', { path: '/sns/userinfo', errcode: -1, times: 3 });
    const body = await w.gql(APP_LOGIN, { input: { code: await w.code(APPS.app.appid, 'cal') } });
    expect(code(body)).toBe('WECHAT_UNAVAILABLE');
    expect((await w.wechatCalls()).filter((p) => p === '/sns/userinfo')).toHaveLength(3);
  });

  it('keeps WeChat config details out of the client’s answer', async () => {
    await w.emulatorPost('/__emulator/faults', { path: '/sns/oauth2/access_token', errcode: 40164 });
    const body = await w.gql(APP_LOGIN, { input: { code: 'whatever' } });
    expect(code(body)).toBe('WECHAT_CONFIG_ERROR');
    expect(body.errors![0]!.extensions).toEqual({ code: 'WECHAT_CONFIG_ERROR' });
    expect(w.t.log.text()).toContain('"errcode":40164');
  });

  it('retries a code exchange whose connection was refused (it never reached WeChat)', async () => {
    const refused = await startWorld({
      env: { WECHAT_API_BASE_URL: 'http://127.0.0.1:1', WECHAT_TIMEOUT_MS: '500' },
    });
    try {
      const body = await refused.gql(MINI_LOGIN, { input: { code: 'abc' } });
      expect(code(body)).toBe('WECHAT_UNAVAILABLE');
      const attempts = refused.t.log.lines.filter((l) => l.includes('ECONNREFUSED'));
      expect(attempts).toHaveLength(3);
    } finally {
      await refused.stop();
    }
  });
});
