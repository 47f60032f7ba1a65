import { MikroORM } from '@mikro-orm/postgresql';
import { describe, expect, it } from '@jest/globals';
import { createOrmConfig } from '../mikro-orm.config.js';
import { createTestDatabase } from './support/database.js';
import { captureLog } from './support/logger.js';

describe('the logger', () => {
  it('censors secret fields wherever they appear, as a net under "never log secrets"', () => {
    const log = captureLog('trace');
    log.logger.info(
      {
        req: {
          method: 'GET',
          url: '/sns/jscode2session?secret=s3cr3t&js_code=c0de',
          headers: { authorization: 'Bearer jwt' },
        },
        wechat: {
          secret: 's3cr3t',
          session_key: 'k3y',
          access_token: 'wx-t0ken',
          refresh_token: 'wx-r3fresh',
        },
        session: {
          refreshToken: 'rt_ours',
          accessToken: 'eyJ.ours',
          sessionKey: 'k3y2',
          authSecret: 'auth-s3cret',
          authSecretPrevious: ['auth-0ld-s3cret'],
        },
        input: { code: 'c0de2', encryptedData: 'ENC', phoneCode: 'ph0necode' },
        user: { phoneNumber: '+8613800138000' },
        body: { phone_info: { purePhoneNumber: '13911112222' } },
      },
      'a line with everything in it',
    );
    const text = log.text();
    for (const secret of [
      's3cr3t',
      'c0de',
      'k3y',
      'wx-t0ken',
      'wx-r3fresh',
      'rt_ours',
      'eyJ.ours',
      'auth-s3cret',
      'auth-0ld-s3cret',
      'ENC',
      'Bearer jwt',
      'ph0necode',
      '13800138000',
      '13911112222',
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('"path":"/sns/jscode2session"');
    expect(text).toContain('[redacted]');
  });
});

describe('the logger, for errors', () => {
  it('keeps error codes readable', () => {
    const log = captureLog('trace');
    log.logger.error({ err: Object.assign(new Error('duplicate key'), { code: '23505' }) }, 'failed');
    expect(log.text()).toContain('"code":"23505"');
  });
});

describe('the logger, for database errors', () => {
  it('logs the SQLSTATE and constraint of a failed statement, never its values (a phone number)', async () => {
    const db = await createTestDatabase();
    const orm = await MikroORM.init(createOrmConfig({ clientUrl: db.url, poolMax: 1 }));
    const log = captureLog('trace');
    try {
      const connection = orm.em.getConnection();
      const errors: unknown[] = [];
      // A value PostgreSQL quotes in its own message (out of range), and one a unique violation
      // quotes in `detail`; knex puts both statements, values inlined, in the message. The first
      // straight from the driver (pg's own error), as src/db/sql.ts's execute() would get it.
      await connection.execute(`select ?::int`, ['+8613800138000']).catch((e: unknown) => errors.push(e));
      // Through the ORM, which turns it into its own UniqueConstraintViolationException.
      await orm.em
        .transactional(async (tx) => {
          await tx.execute(`create temporary table phone (n text constraint phone_n_unique unique)`);
          await tx.execute(`insert into phone values (?)`, ['+8613911112222']);
          await tx.execute(`insert into phone values (?)`, ['+8613911112222']);
        })
        .catch((e: unknown) => errors.push(e));
      expect(errors).toHaveLength(2);
      for (const err of errors) log.logger.error({ err }, 'unexpected error in a GraphQL operation');
    } finally {
      await orm.close(true);
      await db.drop();
    }
    const text = log.text();
    expect(text).not.toContain('13800138000');
    expect(text).not.toContain('13911112222');
    expect(text).toContain('"code":"22003"');
    expect(text).toContain('"code":"23505"');
    expect(text).toContain('"constraint":"phone_n_unique"');
    expect(text).toContain('"type":"UniqueConstraintViolationException"');
  });
});
