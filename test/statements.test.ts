import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { clientOf } from './support/client.js';
import { startWorld, type World } from './support/world.js';

/**
 * The hot paths' raw SQL runs on the ORM's pool as named prepared statements (parsed and planned
 * once per connection), or unnamed with DATABASE_NAMED_STATEMENTS=off (PgBouncer before 1.21 in
 * transaction mode). Either way the same logins, refreshes and `me` work.
 */
describe.each([
  ['on', true],
  ['off', false],
] as const)('DATABASE_NAMED_STATEMENTS=%s', (setting, named) => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld({ env: { DATABASE_NAMED_STATEMENTS: setting } });
  });
  afterAll(async () => {
    await w?.stop();
  });

  /** The names each pooled connection has prepared (node-postgres keeps them per connection). */
  function preparedNames(): string[] {
    const knex = w.t.server.database.orm.em.getConnection().getKnex();
    const pool = (knex.client as { pool: { free: { resource: object }[]; used: { resource: object }[] } })
      .pool;
    return [...pool.free, ...pool.used].flatMap(({ resource }) =>
      Object.keys(
        (resource as { connection: { parsedStatements: Record<string, string> } }).connection
          .parsedStatements,
      ),
    );
  }

  it(`${named ? 'prepares' : 'does not name'} the statements of first and returning logins, refresh and me`, async () => {
    const c = clientOf(w);
    const login = () => c.loginAs('mini', 'stella');
    const first = await login();
    const second = await login();
    expect([first.isNewUser, second.isNewUser]).toEqual([true, false]);
    expect(second.user.id).toBe(first.user.id);
    const refreshed = await c.refresh(second.refreshToken);
    expect(refreshed.data!.refreshSession.user.id).toBe(first.user.id);
    const me = await w.gql<{ me: { id: string } }>(
      '{ me { id } }',
      {},
      { authorization: `Bearer ${refreshed.data!.refreshSession.accessToken}` },
    );
    expect(me.data!.me.id).toBe(first.user.id);
    const names = preparedNames().filter((name) => name.startsWith('q_'));
    if (named) expect(names.length).toBeGreaterThanOrEqual(4);
    else expect(names).toEqual([]);
  });
});
