import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { Database } from '../src/db/database.js';
import { prune } from '../src/housekeeping/housekeeping.js';
import { sha256 } from '../src/crypto/keys.js';
import { oidcAdapter, type OidcAdapter } from '../src/oidc/pg-adapter.js';
import { openTwoHandles, type TwoHandles } from './support/database.js';

/**
 * The OpenID Connect provider's storage (src/oidc/pg-adapter.ts) as the provider uses it, through
 * two database handles standing for two instances: what one writes the other finds, expiry by the
 * database's clock, one-time objects consumed once, a grant's objects ended together.
 */
let handles: TwoHandles;
let first: Database;
let second: Database;
const q = <R extends Record<string, unknown>>(text: string, values?: unknown[]) => handles.q<R>(text, values);

/** The adapter of a model on an instance. */
const on = (instance: Database, model: string): OidcAdapter => new (oidcAdapter(instance.orm.em))(model);

beforeAll(async () => {
  handles = await openTwoHandles(2);
  ({ first, second } = handles);
});
afterAll(async () => {
  await handles?.close();
});
beforeEach(async () => {
  await q('delete from oidc_payload');
});

describe('the OpenID Connect provider’s storage', () => {
  it('finds on one instance what the other stored, as it was given, until it expires', async () => {
    const code = {
      jti: 'code-1',
      kind: 'AuthorizationCode',
      accountId: '00000000-0000-4000-8000-000000000001',
      clientId: 'grafana',
      scope: 'openid profile',
      claims: { id_token: { nickname: null } },
      grantId: 'grant-1',
      nonce: 'n-0S6_WzA2Mj',
      note: '登录 ✓',
      exp: Math.floor(Date.now() / 1000) + 60,
    };
    await on(first, 'AuthorizationCode').upsert('code-1', code, 60);
    expect(await on(second, 'AuthorizationCode').find('code-1')).toEqual(code);
    // The model is part of the key: another model's object of that id is not this one.
    expect(await on(second, 'AccessToken').find('code-1')).toBeUndefined();
    expect(await on(second, 'AuthorizationCode').find('code-2')).toBeUndefined();

    await on(first, 'Interaction').upsert('short', { jti: 'short', kind: 'Interaction' }, 1);
    expect(await on(second, 'Interaction').find('short')).toMatchObject({ jti: 'short' });
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await on(second, 'Interaction').find('short')).toBeUndefined();

    // Saved again (the provider saves an object it changed): the new payload and expiry.
    await on(second, 'AuthorizationCode').upsert('code-1', { ...code, scope: 'openid' }, 60);
    expect(await on(first, 'AuthorizationCode').find('code-1')).toMatchObject({ scope: 'openid' });
  });

  it('marks a one-time object consumed once, on whichever instance, and keeps the mark when it is saved again', async () => {
    const token = { jti: 'rt-1', kind: 'RefreshToken', grantId: 'grant-2', rotations: 0 };
    await on(first, 'RefreshToken').upsert('rt-1', token, 3600);
    expect(await on(first, 'RefreshToken').find('rt-1')).not.toHaveProperty('consumed');

    const before = Math.floor(Date.now() / 1000);
    await Promise.all([
      on(first, 'RefreshToken').consume('rt-1'),
      on(second, 'RefreshToken').consume('rt-1'),
      on(second, 'RefreshToken').consume('rt-1'),
    ]);
    const consumed = (await on(second, 'RefreshToken').find('rt-1'))!.consumed as number;
    expect(consumed).toBeGreaterThanOrEqual(before - 1);
    expect(consumed).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 1);

    await on(first, 'RefreshToken').upsert('rt-1', { ...token, rotations: 1 }, 3600);
    expect(await on(second, 'RefreshToken').find('rt-1')).toEqual({ ...token, rotations: 1, consumed });
  });

  it('finds a session by its uid and a device code by its user code', async () => {
    await on(first, 'Session').upsert('cookie-1', { jti: 'cookie-1', uid: 'uid-1', kind: 'Session' }, 600);
    await on(first, 'Session').upsert('cookie-2', { jti: 'cookie-2', uid: 'uid-2', kind: 'Session' }, 600);
    expect(await on(second, 'Session').findByUid('uid-2')).toMatchObject({ jti: 'cookie-2' });
    expect(await on(second, 'Session').findByUid('uid-3')).toBeUndefined();
    expect(await on(second, 'Interaction').findByUid('uid-1')).toBeUndefined();

    await on(first, 'DeviceCode').upsert('dc-1', { jti: 'dc-1', userCode: 'WDJB-MJHT' }, 600);
    expect(await on(second, 'DeviceCode').findByUserCode('WDJB-MJHT')).toMatchObject({ jti: 'dc-1' });
    expect(await on(second, 'DeviceCode').findByUserCode('WDJB-0000')).toBeUndefined();
  });

  it('destroys one object, and a grant’s objects of every model together', async () => {
    await on(first, 'AuthorizationCode').upsert('c', { jti: 'c', grantId: 'g-1' }, 60);
    await on(first, 'AccessToken').upsert('at', { jti: 'at', grantId: 'g-1' }, 3600);
    await on(first, 'RefreshToken').upsert('rt', { jti: 'rt', grantId: 'g-1' }, 86400);
    await on(first, 'Grant').upsert('g-1', { jti: 'g-1', kind: 'Grant' }, 86400);
    await on(first, 'AccessToken').upsert('other', { jti: 'other', grantId: 'g-2' }, 3600);

    await on(second, 'Grant').destroy('g-1');
    expect(await on(first, 'Grant').find('g-1')).toBeUndefined();
    expect(await on(first, 'AccessToken').find('at')).toBeDefined();

    await on(second, 'AccessToken').revokeByGrantId('g-1');
    for (const [model, id] of [
      ['AuthorizationCode', 'c'],
      ['AccessToken', 'at'],
      ['RefreshToken', 'rt'],
    ] as const) {
      expect(await on(first, model).find(id)).toBeUndefined();
    }
    expect(await on(first, 'AccessToken').find('other')).toMatchObject({ grantId: 'g-2' });
  });

  it('is pruned by housekeeping once expired, and only then', async () => {
    await on(first, 'Interaction').upsert('gone', { jti: 'gone' }, 1);
    await on(first, 'Session').upsert('kept', { jti: 'kept', uid: 'u' }, 3600);
    await on(first, 'Client').upsert('forever', { client_id: 'forever' });
    await q(`update oidc_payload set expires_at = now() - interval '1 second' where id = $1`, [
      sha256('gone'),
    ]);
    const result = await prune(first.orm, {
      sessionRetentionDays: 30,
      webhookRetentionDays: 7,
      auditRetentionDays: 180,
      batchSize: 5000,
    });
    expect(result).toMatchObject({ skipped: false, deleted: { oidc_payload: 1 } });
    expect((await q('select id from oidc_payload order by id')).map((r) => r.id).sort()).toEqual(
      [sha256('forever'), sha256('kept')].sort(),
    );
  });

  it('keeps no token or code itself: ids by their SHA-256, bearer values out of the payload', async () => {
    const value = 'Zm9vYmFyLWJlYXJlci12YWx1ZS1vZi00My1jaGFycy0x';
    const token = { jti: value, kind: 'RefreshToken', grantId: 'g-9', accountId: 'a' };
    await on(first, 'RefreshToken').upsert(value, token, 3600);
    await on(first, 'AuthorizationCode').upsert(`${value}c`, { ...token, jti: `${value}c` }, 60);
    const rows = await q<{ id: string; payload: unknown }>('select id, payload from oidc_payload');
    expect(rows).toHaveLength(2);
    expect(JSON.stringify(rows)).not.toContain(value);
    // Found by the value, whole again.
    expect(await on(second, 'RefreshToken').find(value)).toEqual(token);
    await on(second, 'RefreshToken').consume(value);
    expect(await on(first, 'RefreshToken').find(value)).toMatchObject({
      jti: value,
      consumed: expect.any(Number),
    });
    await on(second, 'RefreshToken').destroy(value);
    expect(await on(first, 'RefreshToken').find(value)).toBeUndefined();
  });
});
