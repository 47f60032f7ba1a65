import { randomBytes, randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sha256 } from '../crypto/keys.js';
import { execute, maybeOne, sql } from '../db/sql.js';
import type { AdminScope } from './admin-key.entity.js';

/** An admin key's holder, as the admin API sees the caller. */
export interface AdminCaller {
  id: string;
  name: string;
  scope: AdminScope;
}

/** A key as `keys:list` shows it: never the key, never its hash. */
export interface AdminKeyListing extends AdminCaller {
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

/** `adm_` + 32 random bytes, base64url: what a key looks like (anything else is not looked up). */
const KEY = /^adm_[A-Za-z0-9_-]{43}$/;
/** A key's last use is written at most this often. */
const LAST_USE_PRECISION_MS = 60_000;

const CREATE = sql<'id' | 'name' | 'scope' | 'keyHash' | 'now'>(`
insert into admin_key (id, name, scope, key_hash, created_at) values (:id, :name, :scope, :keyHash, :now)`);

/** The live key of this hash, its last use noted when older than a minute: one statement. */
const AUTHENTICATE = sql<'keyHash' | 'now' | 'noteBefore', AdminCaller>(`
with used as (
  update admin_key set last_used_at = :now
   where key_hash = :keyHash and revoked_at is null and (last_used_at is null or last_used_at < :noteBefore)
)
select id, name, scope from admin_key where key_hash = :keyHash and revoked_at is null`);

/** A key's row: the driver leaves timestamps as PostgreSQL's text. */
type ListingRow = AdminCaller & { createdAt: string; lastUsedAt: string | null; revokedAt: string | null };

const LIST = sql<never, ListingRow>(`
select id, name, scope, created_at as "createdAt", last_used_at as "lastUsedAt", revoked_at as "revokedAt"
  from admin_key order by created_at, id`);

const REVOKE = sql<'id' | 'now', { id: string }>(`
update admin_key set revoked_at = :now where id = :id and revoked_at is null returning id`);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Admin API keys: made, listed and revoked by `npm run admin`, checked on every admin call. */
export const AdminKeys = {
  /** A new key: its id, and the key itself, which exists nowhere else once shown. */
  async create(em: EntityManager, name: string, scope: AdminScope): Promise<{ id: string; key: string }> {
    const id = randomUUID();
    const key = `adm_${randomBytes(32).toString('base64url')}`;
    await execute(em, CREATE, { id, name, scope, keyHash: sha256(key), now: new Date() });
    return { id, key };
  },

  /** The caller a presented key names, or null (malformed, unknown or revoked: the same). */
  async authenticate(em: EntityManager, key: string): Promise<AdminCaller | null> {
    if (!KEY.test(key)) return null;
    const now = new Date();
    const noteBefore = new Date(now.getTime() - LAST_USE_PRECISION_MS);
    return (await maybeOne(em, AUTHENTICATE, { keyHash: sha256(key), now, noteBefore })) ?? null;
  },

  async list(em: EntityManager): Promise<AdminKeyListing[]> {
    const date = (text: string | null) => (text === null ? null : (em.getPlatform().parseDate(text) as Date));
    return (await execute(em, LIST, {})).map((row) => ({
      id: row.id,
      name: row.name,
      scope: row.scope,
      createdAt: date(row.createdAt)!,
      lastUsedAt: date(row.lastUsedAt),
      revokedAt: date(row.revokedAt),
    }));
  },

  /** Revokes a key at once on every instance; false when no live key has this id. */
  async revoke(em: EntityManager, id: string): Promise<boolean> {
    if (!UUID.test(id)) return false;
    return (await maybeOne(em, REVOKE, { id, now: new Date() })) !== undefined;
  },
};
