import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  APP_LOGIN,
  APPS,
  AUTHORIZE_URL,
  MINI_LOGIN,
  startWorld,
  WEB_LOGIN,
  type World,
} from './support/world.js';
import { clientOf, type Session } from './support/client.js';
import { startTestRedis, type TestRedis } from './support/rate-limits.js';
import { errorCode } from './support/graphql.js';

describe('duplicate submissions', () => {
  let w: World;

  /** Two answers of one joined login: the same user, but two sessions with their own tokens. */
  function expectOwnSessions(...bodies: { data?: unknown; errors?: unknown }[]) {
    const [a, b] = bodies.map((body) => {
      expect(body.errors).toBeUndefined();
      return Object.values(body.data as Record<string, Session>)[0]!;
    }) as [Session, Session];
    expect(b.user).toEqual(a.user);
    expect(b.isNewUser).toBe(a.isNewUser);
    expect(b.refreshToken).not.toBe(a.refreshToken);
    expect(b.accessToken).not.toBe(a.accessToken);
  }

  beforeAll(async () => {
    w = await startWorld();
  });
  afterAll(async () => {
    await w?.stop();
  });

  it.each([
    ['wechatMiniLogin', MINI_LOGIN, APPS.mini.appid, '/sns/jscode2session'],
    ['wechatAppLogin', APP_LOGIN, APPS.app.appid, '/sns/oauth2/access_token'],
  ])(
    '%s: the same code twice at once costs one exchange; each caller gets its own session',
    async (_name, query, appid, path) => {
      await w.emulatorPost('/__emulator/reset', {});
      // WeChat is slow, so the second submission arrives while the first is still exchanging.
      await w.emulatorPost('/__emulator/faults', { path, delayMs: 300 });
      const c = await w.code(appid, `dup-${appid}`);
      const [a, b] = await Promise.all([
        w.gql(query, { input: { code: c } }),
        w.gql(query, { input: { code: c } }),
      ]);
      expectOwnSessions(a, b);
      expect((await w.wechatCalls()).filter((p) => p === path)).toHaveLength(1);

      // Submitted again after it finished: WeChat's answer to a used code.
      const again = await w.gql(query, { input: { code: c } });
      expect(errorCode(again)).toBe('WECHAT_INVALID_CODE');
    },
  );

  it('wechatWebLogin: WeChat redirecting twice with the same code and state costs one exchange', async () => {
    await w.emulatorPost('/__emulator/reset', {});
    await w.emulatorPost('/__emulator/faults', { path: '/sns/oauth2/access_token', delayMs: 300 });
    const { state } = (
      await w.gql<{ wechatWebAuthorizeUrl: { state: string } }>(AUTHORIZE_URL, {
        redirectUri: 'https://a.example/cb',
      })
    ).data!.wechatWebAuthorizeUrl;
    const c = await w.code(APPS.web.appid, 'dup-web');
    const input = { input: { code: c, state } };
    const [a, b] = await Promise.all([w.gql(WEB_LOGIN, input), w.gql(WEB_LOGIN, input)]);
    expectOwnSessions(a, b);
    expect((await w.wechatCalls()).filter((p) => p === '/sns/oauth2/access_token')).toHaveLength(1);
    expect(errorCode(await w.gql(WEB_LOGIN, input))).toBe('INVALID_STATE');
  });
});

describe('rate limits', () => {
  let w: World;
  beforeAll(async () => {
    // A window opens at a key's first hit and lasts a minute: the tests below share these windows.
    w = await startWorld({ env: { RATE_LIMIT_IP_PER_MINUTE: '5', RATE_LIMIT_IDENTITY_PER_MINUTE: '3' } });
  }, 60_000);
  afterAll(async () => {
    await w?.stop();
  });

  it('limits logins per WeChat identity with RATE_LIMITED and a retry-after hint', async () => {
    const answers = [];
    for (let i = 0; i < 4; i++)
      answers.push(await w.gql(MINI_LOGIN, { input: { code: await w.code(APPS.mini.appid, 'flood') } }));
    expect(answers.slice(0, 3).map((a) => a.errors)).toEqual([undefined, undefined, undefined]);
    const limited = answers[3]!.errors![0]!;
    expect(limited.extensions!.code).toBe('RATE_LIMITED');
    expect(limited.extensions!.retryAfterSeconds).toEqual(expect.any(Number));
    expect(limited.extensions!.retryAfterSeconds as number).toBeGreaterThan(0);
    expect(limited.extensions!.retryAfterSeconds as number).toBeLessThanOrEqual(60);
  });

  it('limits logins per client IP before WeChat is called, and refreshes likewise', async () => {
    await w.emulatorPost('/__emulator/reset', {});
    // 4 of the 5 per minute were spent above; the fifth passes, the sixth is refused.
    const fifth = await w.gql(MINI_LOGIN, { input: { code: await w.code(APPS.mini.appid, 'other') } });
    expect(fifth.errors).toBeUndefined();
    const sixth = await w.gql(MINI_LOGIN, { input: { code: await w.code(APPS.mini.appid, 'another') } });
    expect(errorCode(sixth)).toBe('RATE_LIMITED');
    expect((await w.wechatCalls()).filter((p) => p === '/sns/jscode2session')).toHaveLength(1);

    const refresh = 'mutation ($t: String!) { refreshSession(refreshToken: $t) { accessToken } }';
    const results = [];
    for (let i = 0; i < 6; i++) results.push(errorCode(await w.gql(refresh, { t: 'rt_nope' })));
    expect(results).toEqual([
      'UNAUTHENTICATED',
      'UNAUTHENTICATED',
      'UNAUTHENTICATED',
      'UNAUTHENTICATED',
      'UNAUTHENTICATED',
      'RATE_LIMITED',
    ]);
  });

  it('refuse a flood from memory once a key is over: its count in PostgreSQL stops at the first refusal', async () => {
    const counted = async () =>
      (
        await clientOf(w).sql<{ points: number }>(`select points from rate_limit where key like 'login:%'`)
      ).map((r) => r.points);
    // The IP's login budget (5) is spent and its sixth login refused above: 6 counted.
    expect(await counted()).toEqual([6]);
    const flood = await Promise.all(
      Array.from({ length: 30 }, async () =>
        errorCode(await w.gql(MINI_LOGIN, { input: { code: 'flood-code-never-exchanged' } })),
      ),
    );
    expect(new Set(flood)).toEqual(new Set(['RATE_LIMITED']));
    expect(await counted()).toEqual([6]);
  });

  it('are off with RATE_LIMIT=off', async () => {
    const off = await startWorld({
      env: { RATE_LIMIT: 'off', RATE_LIMIT_IP_PER_MINUTE: '1', RATE_LIMIT_IDENTITY_PER_MINUTE: '1' },
    });
    try {
      for (let i = 0; i < 3; i++) {
        expect(
          (await off.gql(MINI_LOGIN, { input: { code: await off.code(APPS.mini.appid, 'free') } })).errors,
        ).toBeUndefined();
      }
    } finally {
      await off.stop();
    }
  });
});

describe('rate limits in Redis (REDIS_URL)', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startTestRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('hold the same limits and answers, counted in Redis and not in PostgreSQL', async () => {
    const w = await startWorld({ env: { REDIS_URL: redis.url, RATE_LIMIT_IDENTITY_PER_MINUTE: '2' } });
    try {
      const answers = [];
      for (let i = 0; i < 3; i++) answers.push(await clientOf(w).login('mini', 'red'));
      expect(answers.slice(0, 2).map((a) => a.errors)).toEqual([undefined, undefined]);
      expect(errorCode(answers[2]!)).toBe('RATE_LIMITED');
      expect(answers[2]!.errors![0]!.extensions!.retryAfterSeconds as number).toBeGreaterThan(0);
      const keys = await redis.client.keys('identity:*');
      expect(keys).toEqual([
        `identity:${APPS.mini.appid}:${answers[0]!.data!.wechatMiniLogin.user.loginMethods[0]!.openId}`,
      ]);
      const rows = await clientOf(w).sql<{ n: string }>('select count(*) as n from rate_limit');
      expect(Number(rows[0]!.n)).toBe(0);
    } finally {
      await w.stop();
    }
  });

  it('go on counting in memory when Redis does not answer, rather than refusing everyone', async () => {
    const w = await startWorld({
      env: { REDIS_URL: 'redis://127.0.0.1:1/0', RATE_LIMIT_IDENTITY_PER_MINUTE: '2' },
    });
    try {
      const answers = [];
      for (let i = 0; i < 3; i++)
        answers.push(await w.gql(MINI_LOGIN, { input: { code: await w.code(APPS.mini.appid, 'blue') } }));
      expect(answers.slice(0, 2).map((a) => a.errors)).toEqual([undefined, undefined]);
      expect(errorCode(answers[2]!)).toBe('RATE_LIMITED');
    } finally {
      await w.stop();
    }
  });
});
