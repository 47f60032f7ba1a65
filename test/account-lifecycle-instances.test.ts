import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { emulatorControl } from './support/emulator.js';
import { errorCode, postGraphQL, type GraphQLBody } from './support/graphql.js';
import { startInstances, type Instances } from './support/instances.js';
import type { ServerProcess } from './support/process.js';
import {
  APPS,
  AUTHORIZE_URL,
  LOGIN_FIELDS,
  MINI_LOGIN,
  WEB_LOGIN,
  type LoginPayload,
} from './support/world.js';

/**
 * Merges and deletions on two server processes sharing one PostgreSQL, as behind a load balancer:
 * the races of test/account-lifecycle.test.ts, with each side on another process. The mini program
 * is unbound, so one person can be two users.
 */
const LINK = `mutation ($input: LinkWechatIdentityInput!) {
  linkWechatIdentity(input: $input) { id loginMethods { kind } }
}`;
const ME = 'query { me { id } }';
const REFRESH = `mutation ($refreshToken: String!) { refreshSession(refreshToken: $refreshToken) { ${LOGIN_FIELDS} } }`;

let instances: Instances | undefined;
let servers: ServerProcess[];

beforeAll(async () => {
  instances = await startInstances(
    { PUBLIC_URL: 'https://login.example.com', RATE_LIMIT_IDENTITY_PER_MINUTE: '1000', LOG_LEVEL: 'warn' },
    { apps: { mini: { ...APPS.mini, bound: false } } },
  );
  servers = instances.servers;
}, 120_000);
afterAll(async () => {
  await instances?.stop();
});

const code = (appid: string, user: string) => emulatorControl(instances!.emulator.url).code(appid, user);

async function gql<T>(server: ServerProcess, query: string, variables: unknown, token?: string) {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  return (await postGraphQL<T>(server.url, query, variables, headers)).body;
}

async function webInput(server: ServerProcess, person: string) {
  const { state } = (
    await gql<{ wechatWebAuthorizeUrl: { state: string } }>(server, AUTHORIZE_URL, {
      redirectUri: 'https://site.example/cb',
    })
  ).data!.wechatWebAuthorizeUrl;
  return { code: await code(APPS.web.appid, person), state };
}

async function webLogin(
  server: ServerProcess,
  person: string,
): Promise<GraphQLBody<{ wechatWebLogin: LoginPayload }>> {
  return gql(server, WEB_LOGIN, { input: await webInput(server, person) });
}

async function miniLogin(server: ServerProcess, person: string): Promise<LoginPayload> {
  const body = await gql<{ wechatMiniLogin: LoginPayload }>(server, MINI_LOGIN, {
    input: { code: await code(APPS.mini.appid, person) },
  });
  expect(body.errors).toBeUndefined();
  return body.data!.wechatMiniLogin;
}

async function counts(userId: string) {
  const client = new pg.Client({ connectionString: instances!.db.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ methods: string; open: string; merged_into_id: string | null }>(
      `select (select count(*) from user_login_method where user_id = $1) as methods,
              (select count(*) from session where user_id = $1 and revoked_at is null) as open,
              (select merged_into_id from "user" where id = $1)`,
      [userId],
    );
    return {
      methods: Number(rows[0]!.methods),
      open: Number(rows[0]!.open),
      mergedInto: rows[0]!.merged_into_id,
    };
  } finally {
    await client.end();
  }
}

describe('account lifecycle on two instances', () => {
  it('two merges into each other, one per instance: one wins, nothing is lost', async () => {
    for (const person of ['ava', 'ben', 'cas']) {
      const onWeb = (await webLogin(servers[0]!, person)).data!.wechatWebLogin;
      const onMini = await miniLogin(servers[1]!, person);
      const [a, b] = await Promise.all([
        gql<{ linkWechatIdentity: { id: string } }>(
          servers[0]!,
          LINK,
          { input: { kind: 'WECHAT_MINI', code: await code(APPS.mini.appid, person), merge: true } },
          onWeb.accessToken,
        ),
        gql<{ linkWechatIdentity: { id: string } }>(
          servers[1]!,
          LINK,
          { input: { kind: 'WECHAT_WEB', ...(await webInput(servers[1]!, person)), merge: true } },
          onMini.accessToken,
        ),
      ]);
      const won = [a, b].filter((x) => !x.errors);
      expect(won).toHaveLength(1);
      expect([a, b].map(errorCode).filter(Boolean)).toEqual(['UNAUTHENTICATED']);
      const survivorId = won[0]!.data!.linkWechatIdentity.id;
      const goneId = survivorId === onWeb.user.id ? onMini.user.id : onWeb.user.id;
      expect(await counts(survivorId)).toMatchObject({ methods: 2, mergedInto: null });
      expect(await counts(goneId)).toEqual({ methods: 0, open: 0, mergedInto: survivorId });
    }
  });

  it('a merge on one instance during logins of the merged user on both', async () => {
    const merged = (await webLogin(servers[0]!, 'dov')).data!.wechatWebLogin;
    const survivor = await miniLogin(servers[1]!, 'dov');
    const logins = Array.from({ length: 10 }, (_, i) => webLogin(servers[i % 2]!, 'dov'));
    const merge = gql(
      servers[0]!,
      LINK,
      { input: { kind: 'WECHAT_APP', code: await code(APPS.app.appid, 'dov'), merge: true } },
      survivor.accessToken,
    );
    const [merging, ...answers] = await Promise.all([merge, ...logins]);
    expect(merging.errors).toBeUndefined();
    for (const [i, answer] of answers.entries()) {
      expect(answer.errors).toBeUndefined();
      const { user, accessToken } = answer.data!.wechatWebLogin;
      const now = await gql<{ me: { id: string } }>(servers[(i + 1) % 2]!, ME, {}, accessToken);
      if (user.id === survivor.user.id) expect(now.data!.me.id).toBe(survivor.user.id);
      else expect(errorCode(now)).toBe('UNAUTHENTICATED');
    }
    expect(await counts(merged.user.id)).toEqual({ methods: 0, open: 0, mergedInto: survivor.user.id });
    expect(await counts(survivor.user.id)).toMatchObject({ methods: 3 });
  });

  it('a deletion on one instance during refreshes on both: no session survives', async () => {
    const sessions = await Promise.all([0, 1, 0, 1].map((i) => miniLogin(servers[i]!, 'eda')));
    const [deleted, ...refreshes] = await Promise.all([
      gql(servers[0]!, 'mutation { deleteAccount }', {}, sessions[0]!.accessToken),
      ...sessions.map((s, i) =>
        gql<{ refreshSession: LoginPayload }>(servers[i % 2]!, REFRESH, { refreshToken: s.refreshToken }),
      ),
    ]);
    expect(deleted).toEqual({ data: { deleteAccount: true } });
    for (const answer of refreshes) {
      if (answer.errors) {
        expect(errorCode(answer)).toBe('UNAUTHENTICATED');
        continue;
      }
      const tokens = answer.data!.refreshSession;
      for (const server of servers) {
        expect(errorCode(await gql(server, ME, {}, tokens.accessToken))).toBe('UNAUTHENTICATED');
      }
      expect(errorCode(await gql(servers[1]!, REFRESH, { refreshToken: tokens.refreshToken }))).toBe(
        'UNAUTHENTICATED',
      );
    }
    expect(await counts(sessions[0]!.user.id)).toEqual({ methods: 0, open: 0, mergedInto: null });
    // The same person again: a new user.
    expect((await miniLogin(servers[1]!, 'eda')).isNewUser).toBe(true);
  });
});
