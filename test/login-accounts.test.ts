import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { clientOf, type Client } from './support/client.js';
import { errorCode } from './support/graphql.js';
import { expectNoSecretsIn } from './support/secrets.js';
import { APP_LOGIN, APPS, MINI_LOGIN, startWorld, type World } from './support/world.js';

/**
 * Logins (test/login.test.ts in parts): one account per person across the platforms, whatever
 * order and however many at once; codes WeChat rejects; loginMethods in one query.
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
  it('registers on the first login and finds the same user on the second', async () => {
    const first = (await c.login('mini', 'amy')).data!.wechatMiniLogin;
    expect(first.isNewUser).toBe(true);
    expect(first.user.loginMethods).toEqual([
      {
        kind: 'WECHAT_MINI',
        appId: APPS.mini.appid,
        openId: expect.any(String),
        unionId: expect.any(String),
        lastLoginAt: expect.any(String),
      },
    ]);
    const second = (await c.login('mini', 'amy')).data!.wechatMiniLogin;
    expect(second.isNewUser).toBe(false);
    expect(second.user.id).toBe(first.user.id);
    expect(second.accessToken).not.toBe(first.accessToken);
  });

  it('writes a first login in one statement after the returning check: user, login method, session, refresh token', async () => {
    const knex = w.t.server.database.orm.em.getConnection().getKnex();
    const queries: string[] = [];
    const onQuery = (query: { sql: string }) => queries.push(query.sql);
    knex.on('query', onQuery);
    let first;
    try {
      first = (await c.login('mini', 'abe')).data!.wechatMiniLogin;
    } finally {
      knex.off('query', onQuery);
    }
    expect(first.isNewUser).toBe(true);
    // The returning-user statement finds nobody, then one statement writes everything (the
    // answer's loginMethods are a read of their own).
    const writes = queries.filter((sql) => !/^select\b/i.test(sql.trim()));
    expect(writes).toHaveLength(2);
    expect(writes[0]).toMatch(/update user_login_method/);
    expect(writes[1]).toMatch(/insert into "user"/);
    const [counts] = await c.sql<{ n: string }>(
      `select (select count(*) from user_login_method where user_id = ?) ||
              '/' || (select count(*) from session where user_id = ?) ||
              '/' || (select count(*) from refresh_token t join session s on s.id = t.session_id where s.user_id = ?) as n`,
      [first.user.id, first.user.id, first.user.id],
    );
    expect(counts!.n).toBe('1/1/1');
    // What it wrote works like any session: the refresh token rotates, the person comes back as itself.
    const refreshed = await c.gql<{ refreshSession: { user: { id: string } } }>(
      `mutation ($t: String!) { refreshSession(refreshToken: $t) { user { id } } }`,
      { t: first.refreshToken },
    );
    expect(refreshed.data!.refreshSession.user.id).toBe(first.user.id);
    const second = (await c.login('mini', 'abe')).data!.wechatMiniLogin;
    expect(second).toMatchObject({ isNewUser: false, user: { id: first.user.id } });
  });

  it('answers the user as stored, createdAt included, after a first login, a returning one, refresh and me', async () => {
    type Answer = { id: string; createdAt: string };
    const first = (await c.login('mini', 'cora')).data!.wechatMiniLogin;
    const again = (await c.login('mini', 'cora')).data!.wechatMiniLogin;
    expect([first.isNewUser, again.isNewUser]).toEqual([true, false]);
    const refreshed = await c.gql<{ refreshSession: { user: Answer } }>(
      `mutation ($t: String!) { refreshSession(refreshToken: $t) { user { id createdAt } } }`,
      { t: again.refreshToken },
    );
    const me = await c.gql<{ me: Answer }>('{ me { id createdAt } }', undefined, {
      authorization: `Bearer ${again.accessToken}`,
    });
    const [row] = await c.sql<{ created_at: string }>(
      `select to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as created_at
         from "user" where id = ?`,
      [first.user.id],
    );
    const stored = { id: first.user.id, createdAt: row!.created_at };
    for (const user of [first.user, again.user, refreshed.data!.refreshSession.user, me.data!.me]) {
      expect(user).toMatchObject(stored);
    }
  });

  it('links a mini program login to the web account with the same unionid', async () => {
    await w.emulatorPost('/__emulator/users', {
      key: 'ben',
      nickname: 'Ben',
      avatarUrl: 'https://img.example/ben/132',
    });
    const web = (await c.login('web', 'ben')).data!.wechatWebLogin;
    expect(web.isNewUser).toBe(true);
    expect(web.user.nickname).toBe('Ben');
    expect(web.user.avatarUrl).toBe('https://img.example/ben/132');
    const mini = (await c.login('mini', 'ben')).data!.wechatMiniLogin;
    expect(mini.isNewUser).toBe(false);
    expect(mini.user.id).toBe(web.user.id);
    expect(mini.user.loginMethods.map((m) => m.kind).sort()).toEqual(['WECHAT_MINI', 'WECHAT_WEB']);
    expect(new Set(mini.user.loginMethods.map((m) => m.unionId)).size).toBe(1);
    const app = (await c.login('app', 'ben')).data!.wechatAppLogin;
    expect(app.user.id).toBe(web.user.id);
    expect(app.user.loginMethods).toHaveLength(3);
  });

  it('keeps the avatar the emulator serves (http on loopback) for a person without one of their own', async () => {
    await w.emulatorPost('/__emulator/users', { key: 'bea', nickname: 'Bea' });
    const web = (await c.login('web', 'bea')).data!.wechatWebLogin;
    expect(web.user.avatarUrl).toBe(`${w.emulator.url}/__emulator/avatars/bea.svg`);
    expect(web.user.avatarUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
    const avatar = await fetch(web.user.avatarUrl!);
    expect(avatar.status).toBe(200);
    expect(avatar.headers.get('content-type')).toBe('image/svg+xml');
  });

  it('gives an unbound app its own user, keyed by (appId, openId)', async () => {
    const unbound = await startWorld({ apps: { app: { ...APPS.app, bound: false } } });
    try {
      const u = clientOf(unbound);
      const login = async (kind: 'mini' | 'app') => Object.values((await u.login(kind, 'uma')).data!)[0]!;
      const mini = await login('mini');
      const app = await login('app');
      expect(app.isNewUser).toBe(true);
      expect(app.otherAccountExists).toBe(false);
      expect(app.user.id).not.toBe(mini.user.id);
      expect(app.user.loginMethods).toEqual([expect.objectContaining({ kind: 'WECHAT_APP', unionId: null })]);
      const again = await login('app');
      expect(again.isNewUser).toBe(false);
      expect(again.user.id).toBe(app.user.id);
    } finally {
      await unbound.stop();
    }
  });

  it('makes exactly one user from 20 concurrent first logins of one person over the three mutations', async () => {
    const before = await w.counts();
    const logins = await Promise.all(
      Array.from({ length: 20 }, (_, i) => c.login((['mini', 'app', 'web'] as const)[i % 3]!, 'cleo')),
    );
    const ids = logins.map((body) => {
      expect(body.errors).toBeUndefined();
      return Object.values(body.data!)[0]!.user.id;
    });
    expect(new Set(ids).size).toBe(1);
    const newUsers = logins.filter((body) => Object.values(body.data!)[0]!.isNewUser);
    expect(newUsers).toHaveLength(1);
    const after = await w.counts();
    expect(after.users - before.users).toBe(1);
    expect(after.methods - before.methods).toBe(3);
    expect(after.sessions - before.sessions).toBe(20);
  });

  it('signs in without a profile when userinfo fails after the code is spent, and fetches it next time', async () => {
    await w.emulatorPost('/__emulator/users', { key: 'finn', nickname: 'Finn' });
    // Every attempt the client makes (it retries 5xx) fails.
    await w.emulatorPost('/__emulator/faults', { path: '/sns/userinfo', status: 502, times: 3 });
    const first = await c.login('web', 'finn');
    expect(first.errors).toBeUndefined();
    expect(first.data!.wechatWebLogin).toMatchObject({ isNewUser: true, user: { nickname: null } });
    expect(first.data!.wechatWebLogin.user.loginMethods[0]!.unionId).toEqual(expect.any(String));
    expect(await w.wechatCalls()).toEqual([
      '/sns/oauth2/access_token',
      '/sns/userinfo',
      '/sns/userinfo',
      '/sns/userinfo',
    ]);

    const second = (await c.login('web', 'finn')).data!.wechatWebLogin;
    expect(second).toMatchObject({
      isNewUser: false,
      user: { id: first.data!.wechatWebLogin.user.id, nickname: 'Finn' },
    });
  });
});

describe('codes WeChat rejects', () => {
  it('answers used, expired and foreign codes with WECHAT_INVALID_CODE and writes no row', async () => {
    const used = await w.code(APPS.mini.appid, 'fay');
    await c.gql(MINI_LOGIN, { input: { code: used } });
    const webCode = await w.code(APPS.app.appid, 'gus');
    await c.gql(APP_LOGIN, { input: { code: webCode } });
    const before = await w.counts();

    const reused = await c.gql(MINI_LOGIN, { input: { code: used } });
    expect(errorCode(reused)).toBe('WECHAT_INVALID_CODE');
    expect(reused.errors![0]!.extensions!.wechatErrcode).toBe(40163);
    expect(errorCode(await c.gql(APP_LOGIN, { input: { code: webCode } }))).toBe('WECHAT_INVALID_CODE');

    const expired = await w.code(APPS.app.appid, 'hal');
    await w.emulatorPost('/__emulator/clock', { advanceMs: 5 * 60_000 + 1000 });
    const body = await c.gql(APP_LOGIN, { input: { code: expired } });
    expect(errorCode(body)).toBe('WECHAT_INVALID_CODE');
    expect(body.errors![0]!.extensions!.wechatErrcode).toBe(42003);

    const foreign = await w.code(APPS.app.appid, 'ida');
    expect(errorCode(await c.gql(MINI_LOGIN, { input: { code: foreign } }))).toBe('WECHAT_INVALID_CODE');

    expect(await w.counts()).toEqual(before);
  });

  it('answers PLATFORM_NOT_CONFIGURED for a platform without appid/secret', async () => {
    const only = await startWorld({ env: { WECHAT_APP_APPID: '', WECHAT_APP_SECRET: '' } });
    try {
      const body = await only.gql(APP_LOGIN, { input: { code: 'abc' } });
      expect(body.errors![0]!.extensions!.code).toBe('PLATFORM_NOT_CONFIGURED');
      expect(await only.wechatCalls()).toEqual([]);
    } finally {
      await only.stop();
    }
  });
});

describe('loginMethods', () => {
  it('costs one query per request, however many fields ask for it', async () => {
    const login = (await c.login('mini', 'lena')).data!.wechatMiniLogin;
    await c.login('app', 'lena');
    const aliases = Array.from({ length: 50 }, (_, i) => `m${i}: me { loginMethods { kind } }`).join(' ');
    const knex = w.t.server.database.orm.em.getConnection().getKnex();
    const queries: string[] = [];
    const onQuery = (query: { sql: string }) => queries.push(query.sql);
    knex.on('query', onQuery);
    let body;
    try {
      body = await c.gql<Record<string, { loginMethods: { kind: string }[] }>>(
        `query { ${aliases} }`,
        {},
        {
          authorization: `Bearer ${login.accessToken}`,
        },
      );
    } finally {
      knex.off('query', onQuery);
    }
    expect(body.errors).toBeUndefined();
    expect(Object.keys(body.data!)).toHaveLength(50);
    for (const me of Object.values(body.data!)) {
      expect(me.loginMethods.map((m) => m.kind)).toEqual(['WECHAT_MINI', 'WECHAT_APP']);
    }
    expect(queries.filter((sql) => sql.includes('user_login_method'))).toHaveLength(1);
  });
});
