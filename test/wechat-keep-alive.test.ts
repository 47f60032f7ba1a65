import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { errorCode } from './support/graphql.js';
import { APP_LOGIN, APPS, MINI_LOGIN, startWorld, type World } from './support/world.js';

// Connections to WeChat are kept alive; these tests play a WeChat that closes idle ones after 2 s.

let w: World;
beforeAll(async () => {
  w = await startWorld({ emulatorKeepAliveMs: 2000 });
});
afterAll(async () => {
  await w?.stop();
});
beforeEach(async () => {
  await w.emulatorPost('/__emulator/reset', {});
});

/** The emulator's log of one path: each call's outcome and the connection that carried it. */
async function calls(path: string): Promise<{ outcome: string; connection: number }[]> {
  const { requests } = (await (await fetch(`${w.emulator.url}/__emulator/requests`)).json()) as {
    requests: { path: string; outcome: string; connection: number }[];
  };
  return requests.filter((r) => r.path === path).map(({ outcome, connection }) => ({ outcome, connection }));
}

async function mini(user: string) {
  return w.gql<{ wechatMiniLogin: { user: { id: string } } }>(MINI_LOGIN, {
    input: { code: await w.code(APPS.mini.appid, user) },
  });
}

describe('kept-alive connections to WeChat', () => {
  it('are closed by us before WeChat closes them: a login after an idle moment opens a new one and succeeds', async () => {
    expect((await mini('kai')).errors).toBeUndefined();
    // Within a second of the last call, the same connection is used again.
    await sleep(100);
    expect((await mini('kai')).errors).toBeUndefined();
    // WeChat announced `Keep-Alive: timeout=2`: our socket is retired a second before WeChat's.
    await sleep(1400);
    expect((await mini('kai')).errors).toBeUndefined();
    const [first, second, third] = await calls('/sns/jscode2session');
    expect([first!.outcome, second!.outcome, third!.outcome]).toEqual(['ok', 'ok', 'ok']);
    expect(second!.connection).toBe(first!.connection);
    expect(third!.connection).not.toBe(first!.connection);
  });

  it.each([
    ['/sns/jscode2session', () => mini('lee')],
    [
      '/sns/oauth2/access_token',
      async () => w.gql(APP_LOGIN, { input: { code: await w.code(APPS.app.appid, 'lee') } }),
    ],
  ])(
    '%s: a code sent into a connection WeChat had reset is sent again on a new one, and spent once',
    async (path, login) => {
      // A first call leaves a kept-alive connection in the pool.
      expect((await login()).errors).toBeUndefined();
      await w.emulatorPost('/__emulator/faults', { path, reset: true });
      const body = await login();
      expect(body.errors).toBeUndefined();
      // The reset call (on the kept-alive connection) never reached the code's check; the one sent
      // again, on a new connection, did, once.
      const [kept, reset, again] = await calls(path);
      expect([kept!.outcome, reset!.outcome, again!.outcome]).toEqual(['ok', 'fault:reset', 'ok']);
      expect(reset!.connection).toBe(kept!.connection);
      expect(again!.connection).not.toBe(kept!.connection);
    },
  );

  it('a reset on a new connection is not retried: a single-use code that may have arrived is never sent twice', async () => {
    // Past the idle timeout: the next call opens a new connection, and that one is reset.
    await sleep(1400);
    await w.emulatorPost('/__emulator/faults', { path: '/sns/jscode2session', reset: true });
    const body = await mini('mo');
    expect(errorCode(body)).toBe('WECHAT_UNAVAILABLE');
    expect((await w.wechatCalls()).filter((p) => p === '/sns/jscode2session')).toHaveLength(1);
  });

  it('a connection closed without an answer after WeChat read the call (no reset) is not retried either', async () => {
    expect((await mini('ned')).errors).toBeUndefined();
    await w.emulatorPost('/__emulator/faults', { path: '/sns/jscode2session', drop: true });
    const body = await mini('ned');
    expect(errorCode(body)).toBe('WECHAT_UNAVAILABLE');
    expect((await w.wechatCalls()).filter((p) => p === '/sns/jscode2session')).toHaveLength(2);
  });
});
