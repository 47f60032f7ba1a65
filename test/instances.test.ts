import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import type { Emulator } from '../src/emulator/emulator.js';
import type { TestDatabase } from './support/database.js';
import { emulatorControl } from './support/emulator.js';
import { startInstances, type Instances } from './support/instances.js';
import { errorCode, postGraphQL } from './support/graphql.js';
import type { ServerProcess } from './support/process.js';
import { APP_LOGIN, APPS, AUTHORIZE_URL, MINI_LOGIN, WEB_LOGIN, type LoginPayload } from './support/world.js';

/** Two server processes on one PostgreSQL and one emulator, as behind a load balancer. */
let db: TestDatabase;
let emulator: Emulator;
let servers: ServerProcess[] = [];

async function gql<T = Record<string, LoginPayload>>(
  server: ServerProcess,
  query: string,
  variables: unknown,
) {
  return (await postGraphQL<T>(server.url, query, variables)).body;
}

const code = (appid: string, user: string) => emulatorControl(emulator.url).code(appid, user);

let instances: Instances | undefined;

beforeAll(async () => {
  // The embedded database takes one connection per process here (plus one for this test's count).
  instances = await startInstances({
    // One issuer for both, as behind a load balancer: each accepts the other's access tokens.
    PUBLIC_URL: 'https://login.example.com',
    RATE_LIMIT_IDENTITY_PER_MINUTE: '1000',
    REFRESH_REUSE_GRACE_SECONDS: '1',
    LOG_LEVEL: 'warn',
  });
  ({ db, emulator, servers } = instances);
}, 120_000);

afterAll(async () => {
  await instances?.stop();
});

describe('two instances on one database', () => {
  it('make exactly one user of 50 concurrent first logins of one person', async () => {
    const queries = [
      [MINI_LOGIN, APPS.mini.appid],
      [APP_LOGIN, APPS.app.appid],
    ] as const;
    const answers = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const [query, appid] = queries[i % 2]!;
        return gql(servers[Math.floor(i / 2) % 2]!, query, { input: { code: await code(appid, 'mia') } });
      }),
    );
    const payloads = answers.map((a) => {
      expect(a.errors).toBeUndefined();
      return Object.values(a.data!)[0]!;
    });
    expect(new Set(payloads.map((p) => p.user.id)).size).toBe(1);
    expect(payloads.filter((p) => p.isNewUser)).toHaveLength(1);

    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ users: string; methods: string }>(
        `select (select count(*) from "user") as users, (select count(*) from user_login_method) as methods`,
      );
      expect(rows[0]).toEqual({ users: '1', methods: '2' });
    } finally {
      await client.end();
    }
  });

  it('accept an access token issued by one instance on the other', async () => {
    const [a, b] = servers as [ServerProcess, ServerProcess];
    const login = Object.values(
      (await gql(a, MINI_LOGIN, { input: { code: await code(APPS.mini.appid, 'pia') } })).data!,
    )[0]!;
    const { body } = await postGraphQL<{ me: { id: string } }>(b.url, '{ me { id } }', undefined, {
      authorization: `Bearer ${login.accessToken}`,
    });
    expect(body.data?.me.id).toBe(login.user.id);
  });

  it('accept a web state minted by one instance on the other, once', async () => {
    const [a, b] = servers as [ServerProcess, ServerProcess];
    const minted = await gql<{ wechatWebAuthorizeUrl: { state: string } }>(a, AUTHORIZE_URL, {
      redirectUri: 'https://a.example/cb',
    });
    const state = minted.data!.wechatWebAuthorizeUrl.state;
    const first = await gql(b, WEB_LOGIN, { input: { code: await code(APPS.web.appid, 'noa'), state } });
    expect(first.errors).toBeUndefined();
    const again = await gql(a, WEB_LOGIN, { input: { code: await code(APPS.web.appid, 'noa'), state } });
    expect(errorCode(again)).toBe('INVALID_STATE');
  });

  it('refresh one token on both at once (both succeed), then revoke its late reuse on either', async () => {
    const [a, b] = servers as [ServerProcess, ServerProcess];
    const login = Object.values(
      (await gql(a, MINI_LOGIN, { input: { code: await code(APPS.mini.appid, 'ola') } })).data!,
    )[0]!;
    const refresh = 'mutation ($t: String!) { refreshSession(refreshToken: $t) { refreshToken } }';
    const both = await Promise.all([a, b].map((server) => gql(server, refresh, { t: login.refreshToken })));
    for (const answer of both) expect(answer.errors).toBeUndefined();
    // Past the grace window (1 s here), the old token is a stolen one: the session ends everywhere.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const stale = await gql(b, refresh, { t: login.refreshToken });
    expect(errorCode(stale)).toBe('UNAUTHENTICATED');
    const rotated = Object.values(both[0]!.data!)[0]!;
    expect(errorCode(await gql(a, refresh, { t: rotated.refreshToken }))).toBe('UNAUTHENTICATED');
  });
});
