import { MikroORM, UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createOrmConfig } from '../mikro-orm.config.js';
import { LoginMethodKind, UserLoginMethod } from '../src/identity/user-login-method.entity.js';
import { User } from '../src/identity/user.entity.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

describe('identity constraints in the database', () => {
  let db: TestDatabase;
  let orm: MikroORM;

  beforeAll(async () => {
    db = await createTestDatabase();
    orm = await MikroORM.init(createOrmConfig({ clientUrl: db.url, poolMax: 1 }));
    await orm.getMigrator().up();
  });
  afterAll(async () => {
    await orm?.close(true);
    await db?.drop();
  });

  it('allow one user per unionId', async () => {
    const em = orm.em.fork();
    em.create(User, { unionId: 'union-1' });
    await em.flush();
    const other = orm.em.fork();
    other.create(User, { unionId: 'union-1' });
    await expect(other.flush()).rejects.toBeInstanceOf(UniqueConstraintViolationException);
  });

  it('allow many users without a unionId', async () => {
    const em = orm.em.fork();
    em.create(User, {});
    em.create(User, {});
    await expect(em.flush()).resolves.toBeUndefined();
  });

  it('allow one user per (appId, openId), while the same openId may exist in another app', async () => {
    const em = orm.em.fork();
    const alice = em.create(User, {});
    const bob = em.create(User, {});
    em.create(UserLoginMethod, {
      user: alice,
      kind: LoginMethodKind.WECHAT_MINI,
      appId: 'wxA',
      openId: 'o1',
    });
    em.create(UserLoginMethod, { user: alice, kind: LoginMethodKind.WECHAT_WEB, appId: 'wxB', openId: 'o1' });
    await em.flush();

    const race = orm.em.fork();
    race.create(UserLoginMethod, {
      user: race.getReference(User, bob.id),
      kind: LoginMethodKind.WECHAT_MINI,
      appId: 'wxA',
      openId: 'o1',
    });
    await expect(race.flush()).rejects.toBeInstanceOf(UniqueConstraintViolationException);
  });

  it('delete a user’s login methods with the user', async () => {
    const em = orm.em.fork();
    const carol = em.create(User, {});
    em.create(UserLoginMethod, { user: carol, kind: LoginMethodKind.WECHAT_APP, appId: 'wxC', openId: 'c1' });
    await em.flush();
    await orm.em.fork().nativeDelete(User, { id: carol.id });
    expect(await orm.em.fork().count(UserLoginMethod, { appId: 'wxC' })).toBe(0);
  });
});
