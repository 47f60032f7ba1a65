import { MikroORM } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createOrmConfig } from '../mikro-orm.config.js';
import { migrationsList } from '../src/db/migrations/index.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

async function tables(orm: MikroORM): Promise<string[]> {
  const rows = await orm.em
    .getConnection()
    .execute<Array<{ table_name: string }>>(
      `select table_name from information_schema.tables where table_schema = 'public' order by table_name`,
    );
  return rows.map((r) => r.table_name);
}

describe('migrations', () => {
  let db: TestDatabase;
  let orm: MikroORM;

  beforeAll(async () => {
    db = await createTestDatabase({ empty: true });
    orm = await MikroORM.init(createOrmConfig({ clientUrl: db.url, poolMax: 1 }));
  });
  afterAll(async () => {
    await orm?.close(true);
    await db?.drop();
  });

  it('apply to an empty database, roll back to nothing, and apply again', async () => {
    const migrator = orm.getMigrator();
    expect(await tables(orm)).toEqual([]);

    const applied = await migrator.up();
    expect(applied.map((m) => m.name)).toEqual(migrationsList.map((m) => m.name));
    expect(await tables(orm)).toEqual(
      expect.arrayContaining(['user', 'user_login_method', 'mikro_orm_migrations']),
    );
    expect(await migrator.getPendingMigrations()).toEqual([]);

    await migrator.down({ to: 0 });
    expect(await tables(orm)).toEqual(['mikro_orm_migrations']);

    await migrator.up();
    expect(await tables(orm)).toEqual(expect.arrayContaining(['user', 'user_login_method']));
  });

  it('leave nothing for the entities to add (the migrations match the code)', async () => {
    const diff = await orm.getSchemaGenerator().getUpdateSchemaSQL({ wrap: false });
    expect(diff.trim()).toBe('');
  });

  it('let a user claim the unionId only its own login methods carry, once, and touch nothing ambiguous', async () => {
    const claim = 'Migration20261121233000';
    // The one just before it, whatever lands between them later.
    const before = migrationsList[migrationsList.findIndex((m) => m.name === claim) - 1]!.name;
    const migrator = orm.getMigrator();
    await migrator.down({ to: 0 });
    await migrator.up({ to: before });
    const connection = orm.em.getConnection();
    const ids: Record<string, string> = {};
    const user = async (name: string, unionId: string | null) => {
      const [row] = await connection.execute<{ id: string }[]>(
        `insert into "user" (id, created_at, updated_at, union_id) values (gen_random_uuid(), now(), now(), ?) returning id`,
        [unionId],
      );
      ids[name] = row!.id;
    };
    const method = (name: string, openId: string, unionId: string | null) =>
      connection.execute(
        `insert into user_login_method (id, created_at, updated_at, user_id, kind, app_id, open_id, union_id, last_login_at)
         values (gen_random_uuid(), now(), now(), ?, 'WECHAT_MINI', 'wxmini', ?, ?, now())`,
        [ids[name], openId, unionId],
      );
    // a: its method carries U_A, nobody holds it: a claims it.
    await user('a', null);
    await method('a', 'o_a', 'U_A');
    await method('a', 'o_a2', null);
    // b2: its method carries U_B, which b1 holds: b2 stays without (otherAccountExists at login).
    await user('b1', 'U_B');
    await method('b1', 'o_b1', 'U_B');
    await user('b2', null);
    await method('b2', 'o_b2', 'U_B');
    // c1, c2: both carry U_C, nobody holds it: ambiguous, left to the next login.
    await user('c1', null);
    await method('c1', 'o_c1', 'U_C');
    await user('c2', null);
    await method('c2', 'o_c2', 'U_C');
    // d: carries two unionIds: ambiguous.
    await user('d', null);
    await method('d', 'o_d1', 'U_D1');
    await method('d', 'o_d2', 'U_D2');
    // e: holds U_E1 already; a method carries U_E2 that nobody holds: e keeps U_E1.
    await user('e', 'U_E1');
    await method('e', 'o_e', 'U_E2');

    const unionIds = async () => {
      const rows = await connection.execute<{ id: string; union_id: string | null }[]>(
        `select id, union_id from "user"`,
      );
      const byId = new Map(rows.map((r) => [r.id, r.union_id]));
      return Object.fromEntries(Object.entries(ids).map(([name, id]) => [name, byId.get(id)]));
    };
    const expected = { a: 'U_A', b1: 'U_B', b2: null, c1: null, c2: null, d: null, e: 'U_E1' };

    expect((await migrator.up({ to: claim })).map((m) => m.name)).toEqual([claim]);
    expect(await unionIds()).toEqual(expected);
    // Again (down is a no-op, so up runs the statement a second time): nothing changes.
    await migrator.down({ to: before });
    await migrator.up({ to: claim });
    expect(await unionIds()).toEqual(expected);
    await migrator.up();
    expect(await migrator.getPendingMigrations()).toEqual([]);
  });
});
