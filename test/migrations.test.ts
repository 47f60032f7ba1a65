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
    db = await createTestDatabase();
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
});
