import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AdminKeys } from '../src/admin/admin-keys.js';
import { clientOf, type Client } from './support/client.js';
import { sqlOf, type Sql } from './support/sql.js';
import { APPS, startWorld, type World } from './support/world.js';

let w: World;
let c: Client;
let sql: Sql;

beforeAll(async () => {
  w = await startWorld({ env: { RATE_LIMIT: 'off' } });
  c = clientOf(w);
  sql = sqlOf(w.t);
});
afterAll(async () => {
  await w?.stop();
});

/** `npm run admin -- …` against the test server's database, as an operator runs it. */
function admin(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn('npm', ['run', '--silent', 'admin', '--', ...args], {
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      DATABASE_URL: w.t.db.url,
      DATABASE_POOL_MAX: '1',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

/** A key made as `keys:create` makes it (the CLI itself is tested once, below: each run is a process). */
async function newKey(scope: 'read' | 'write', name = `${scope} key`): Promise<string> {
  return (await AdminKeys.create(w.t.server.database.orm.em.fork(), name, scope)).key;
}

/** JSON as the admin API sent it; each test asserts the shape it reads. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

interface AdminAnswer<T = Json> {
  status: number;
  data?: T;
  errors?: { message: string; extensions?: { code?: string; field?: string } }[];
}

/** POST /admin/graphql with a bearer (an admin key, or anything else). */
async function adminGql<T = Json>(
  bearer: string | null,
  query: string,
  variables: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<AdminAnswer<T>> {
  const response = await fetch(`${w.t.url}/admin/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(bearer === null ? {} : { authorization: `Bearer ${bearer}` }),
      ...headers,
    },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, ...((await response.json()) as object) };
}

/** A person logs in to the mini program (and so exists). */
async function person(user: string) {
  const answer = await c.run('WechatMiniLogin', { input: { code: await w.code(APPS.mini.appid, user) } });
  expect(answer.errors).toBeUndefined();
  return answer.data!.wechatMiniLogin;
}

const USER_FIELDS = `id nickname unionId hasPhoneNumber createdAt deletedAt activeSessions
  loginMethods { kind appId openId unionId lastLoginAt }`;

describe('admin API keys (npm run admin)', () => {
  it('makes a key shown once, lists keys without it, revokes one; refuses bad arguments', async () => {
    const made = await admin('keys:create', '--name', 'support desk', '--scope', 'read');
    expect(made.code).toBe(0);
    const key = made.stdout.trim();
    expect(key).toMatch(/^adm_[A-Za-z0-9_-]{43}$/);
    expect(made.stderr).toContain('shown this once');
    const listed = await admin('keys:list');
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain('support desk\tread');
    expect(listed.stdout).not.toContain(key);
    const [row] = await sql<{ id: string; key_hash: string }>(
      'select id, key_hash from admin_key where name = ?',
      ['support desk'],
    );
    expect(row!.key_hash).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await adminGql(key, '{ users(first: 1) { nodes { id } } }')).status).toBe(200);

    const revoked = await admin('keys:revoke', row!.id);
    expect(revoked).toMatchObject({ code: 0 });
    expect((await adminGql(key, '{ users(first: 1) { nodes { id } } }')).errors![0]!.extensions!.code).toBe(
      'UNAUTHENTICATED',
    );
    expect((await admin('keys:list')).stdout).toMatch(/support desk\tread\t\S+\t\S+\t\d{4}-/);

    for (const args of [
      ['keys:create', '--name', 'x', '--scope', 'admin'],
      ['keys:create', '--scope', 'read'],
      ['keys:revoke'],
      ['keys:revoke', 'not-an-id'],
      ['keys:delete'],
    ]) {
      const refused = await admin(...args);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/^admin: /);
      expect(refused.stdout).toBe('');
    }
    // Ten processes of their own: each loads the code and opens the database.
  }, 180_000);
});

describe('POST /admin/graphql', () => {
  let read: string;
  let write: string;
  beforeAll(async () => {
    [read, write] = [await newKey('read'), await newKey('write')];
  });

  it('answers admin keys only: no key, a made-up or a user’s access token get UNAUTHENTICATED', async () => {
    const alice = await person('adm-alice');
    for (const bearer of [null, 'adm_' + 'x'.repeat(43), alice.accessToken, `${read}x`]) {
      const answer = await adminGql(bearer, '{ users { nodes { id } } }');
      expect(answer.status).toBe(401);
      expect(answer.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
      expect(answer.data).toBeUndefined();
    }
    // The public API knows nothing of it.
    const introspection = await c.gql('{ __schema { types { name } queryType { fields { name } } } }');
    const names = JSON.stringify(introspection.data);
    expect(names).not.toMatch(/Admin|revokeSessions|deleteUser/);
    // And the admin API is not the public one.
    expect((await adminGql(read, '{ me { id } }')).errors![0]!.extensions!.code).toBe(
      'GRAPHQL_VALIDATION_FAILED',
    );
  });

  it('finds a user by id and by identity, with login methods, never the phone number', async () => {
    const bob = await person('adm-bob');
    const openId = bob.user.loginMethods[0]!.openId;
    const byId = await adminGql(read, `query ($id: ID!) { user(id: $id) { ${USER_FIELDS} } }`, {
      id: bob.user.id,
    });
    expect(byId.data!.user).toMatchObject({
      id: bob.user.id,
      hasPhoneNumber: false,
      deletedAt: null,
      activeSessions: 1,
      loginMethods: [{ kind: 'WECHAT_MINI', appId: APPS.mini.appid, openId }],
    });
    const found = await adminGql(
      read,
      `query ($f: AdminUserFilter) { users(filter: $f) { nodes { id } pageInfo { hasNextPage } } }`,
      { f: { openId, appId: APPS.mini.appid } },
    );
    expect(found.data!.users).toEqual({ nodes: [{ id: bob.user.id }], pageInfo: { hasNextPage: false } });
    const none = await adminGql(read, `query ($f: AdminUserFilter) { users(filter: $f) { nodes { id } } }`, {
      f: { openId, appId: APPS.web.appid },
    });
    expect(none.data!.users.nodes).toEqual([]);
    expect(
      (await adminGql(read, `query { user(id: "00000000-0000-4000-8000-000000000000") { id } }`)).data,
    ).toEqual({ user: null });
    const bad = await adminGql(read, `query { user(id: "nope") { id } }`);
    expect(bad.errors![0]!.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'id' });
  });

  it('pages through users in creation order with opaque cursors: no gaps, no repeats while users are added', async () => {
    const existing = Number(
      (await sql<{ n: string }>('select count(*) as n from "user" where deleted_at is null'))[0]!.n,
    );
    // Two thousand users, as an import would add them: ten at a time share a creation time, to
    // the microsecond (now() has microseconds; a JavaScript date would not).
    await sql(
      `insert into "user" (id, created_at, updated_at)
       select gen_random_uuid(), now() - interval '1 day' + (g / 10) * interval '1 millisecond', now() from generate_series(1, 2000) g`,
    );
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const page: AdminAnswer<{
        users: { nodes: { id: string }[]; pageInfo: { endCursor: string | null; hasNextPage: boolean } };
      }> = await adminGql(
        read,
        `query ($after: String) { users(first: 200, after: $after) { nodes { id } pageInfo { endCursor hasNextPage } } }`,
        {
          after,
        },
      );
      expect(page.errors).toBeUndefined();
      seen.push(...page.data!.users.nodes.map((n) => n.id));
      pages++;
      // Someone signs up while the pages are read: they come last, once.
      if (pages === 3) await person('adm-newcomer');
      if (!page.data!.users.pageInfo.hasNextPage) break;
      after = page.data!.users.pageInfo.endCursor;
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.length).toBe(existing + 2000 + 1);
    expect(pages).toBe(Math.ceil(seen.length / 200));
    for (const cursor of ['nope', Buffer.from('["x","y"]').toString('base64url')]) {
      const bad = await adminGql(read, `query ($a: String) { users(after: $a) { nodes { id } } }`, {
        a: cursor,
      });
      expect(bad.errors![0]!.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'after' });
    }
    expect(
      (await adminGql(read, `{ users(first: 201) { nodes { id } } }`)).errors![0]!.extensions!.code,
    ).toBe('BAD_USER_INPUT');
  });

  it('ends a user’s sessions and deletes a user with a write key; a read key gets FORBIDDEN', async () => {
    const carol = await person('adm-carol');
    const second = await person('adm-carol');
    const revoke = `mutation ($id: ID!) { revokeSessions(userId: $id) }`;
    const forbidden = await adminGql(read, revoke, { id: carol.user.id });
    expect(forbidden.errors![0]!.extensions!.code).toBe('FORBIDDEN');
    expect((await c.me(carol.accessToken)).data!.me!.id).toBe(carol.user.id);

    expect((await adminGql(write, revoke, { id: carol.user.id })).data).toEqual({ revokeSessions: 2 });
    // At once: the access token and the refresh token of each session stop working.
    expect((await c.me(second.accessToken)).errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
    const refresh = await c.run('RefreshSession', { refreshToken: carol.refreshToken });
    expect(refresh.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');

    const del = `mutation ($id: ID!) { deleteUser(id: $id) }`;
    expect((await adminGql(read, del, { id: carol.user.id })).errors![0]!.extensions!.code).toBe('FORBIDDEN');
    expect((await adminGql(write, del, { id: carol.user.id })).data).toEqual({ deleteUser: true });
    expect((await adminGql(write, del, { id: carol.user.id })).data).toEqual({ deleteUser: false });
    const tombstone = await adminGql(
      read,
      `query ($id: ID!) { user(id: $id) { deletedAt loginMethods { kind } } }`,
      {
        id: carol.user.id,
      },
    );
    expect(tombstone.data!.user.deletedAt).not.toBeNull();
    expect(tombstone.data!.user.loginMethods).toEqual([]);
  });

  it('is closed to browsers (no CORS), refuses GET, and says nothing of its keys in the log', async () => {
    const preflight = await fetch(`${w.t.url}/admin/graphql`, {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'POST' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    const cross = await fetch(`${w.t.url}/admin/graphql`, {
      method: 'POST',
      headers: {
        origin: 'http://localhost:3000',
        'content-type': 'application/json',
        authorization: `Bearer ${read}`,
      },
      body: JSON.stringify({ query: '{ users(first: 1) { nodes { id } } }' }),
    });
    expect(cross.headers.get('access-control-allow-origin')).toBeNull();
    expect(cross.headers.get('cache-control')).toBe('no-store');
    expect((await fetch(`${w.t.url}/admin/graphql?query={users{nodes{id}}}`)).status).toBe(404);
    const log = w.t.log.text();
    expect(log).not.toContain(read);
    expect(log).not.toContain(write);
  });
});
