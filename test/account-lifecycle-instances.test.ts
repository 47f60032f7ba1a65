import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { bearer, createClient, type Client } from './support/client.js';
import { errorCode } from './support/graphql.js';
import { startInstances, type Instances } from './support/instances.js';
import { sqlAt } from './support/sql.js';
import { APPS } from './support/world.js';

/**
 * Merges and deletions on two server processes sharing one PostgreSQL, as behind a load balancer:
 * the races of test/account-lifecycle.test.ts, with each side on another process. The mini program
 * is unbound, so one person can be two users.
 */
let instances: Instances | undefined;
let clients: Client[];

beforeAll(async () => {
  instances = await startInstances(
    { PUBLIC_URL: 'https://login.example.com', RATE_LIMIT_IDENTITY_PER_MINUTE: '1000', LOG_LEVEL: 'warn' },
    { apps: { mini: { ...APPS.mini, bound: false } } },
  );
  const { db, emulator, servers } = instances;
  clients = servers.map((server) =>
    createClient({
      url: server.url,
      emulatorUrl: emulator.url,
      sql: sqlAt(db.url),
      redirectUri: 'https://site.example/cb',
    }),
  );
}, 120_000);
afterAll(async () => {
  await instances?.stop();
});

/** The user's login methods, open sessions and merge, from its row. */
async function counts(userId: string) {
  const row = await clients[0]!.userRow(userId);
  return { methods: row.methods, open: row.openSessions, mergedInto: row.merged_into_id };
}

describe('account lifecycle on two instances', () => {
  it('two merges into each other, one per instance: one wins, nothing is lost', async () => {
    for (const person of ['ava', 'ben', 'cas']) {
      const onWeb = (await clients[0]!.login('web', person)).data!.wechatWebLogin;
      const onMini = await clients[1]!.loginAs('mini', person);
      const [a, b] = await Promise.all([
        clients[0]!.link(onWeb.accessToken, 'mini', person, true),
        clients[1]!.link(onMini.accessToken, 'web', person, true),
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
    const merged = (await clients[0]!.login('web', 'dov')).data!.wechatWebLogin;
    const survivor = await clients[1]!.loginAs('mini', 'dov');
    const logins = Array.from({ length: 10 }, (_, i) => clients[i % 2]!.login('web', 'dov'));
    const merge = clients[0]!.link(survivor.accessToken, 'app', 'dov', true);
    const [merging, ...answers] = await Promise.all([merge, ...logins]);
    expect(merging.errors).toBeUndefined();
    for (const [i, answer] of answers.entries()) {
      expect(answer.errors).toBeUndefined();
      const { user, accessToken } = answer.data!.wechatWebLogin;
      const now = await clients[(i + 1) % 2]!.me(accessToken);
      if (user.id === survivor.user.id) expect(now.data!.me!.id).toBe(survivor.user.id);
      else expect(errorCode(now)).toBe('UNAUTHENTICATED');
    }
    expect(await counts(merged.user.id)).toEqual({ methods: 0, open: 0, mergedInto: survivor.user.id });
    expect(await counts(survivor.user.id)).toMatchObject({ methods: 3 });
  });

  it('a deletion on one instance during refreshes on both: no session survives', async () => {
    const sessions = await Promise.all([0, 1, 0, 1].map((i) => clients[i]!.loginAs('mini', 'eda')));
    const [deleted, ...refreshes] = await Promise.all([
      clients[0]!.gql('mutation { deleteAccount }', {}, bearer(sessions[0]!.accessToken)),
      ...sessions.map((s, i) => clients[i % 2]!.refresh(s.refreshToken)),
    ]);
    expect(deleted).toEqual({ data: { deleteAccount: true } });
    for (const answer of refreshes) {
      if (answer.errors) {
        expect(errorCode(answer)).toBe('UNAUTHENTICATED');
        continue;
      }
      const tokens = answer.data!.refreshSession;
      for (const client of clients) {
        expect(errorCode(await client.me(tokens.accessToken))).toBe('UNAUTHENTICATED');
      }
      expect(errorCode(await clients[1]!.refresh(tokens.refreshToken))).toBe('UNAUTHENTICATED');
    }
    expect(await counts(sessions[0]!.user.id)).toEqual({ methods: 0, open: 0, mergedInto: null });
    // The same person again: a new user.
    expect((await clients[1]!.loginAs('mini', 'eda')).isNewUser).toBe(true);
  });
});
