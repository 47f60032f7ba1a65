import type { EntityManager } from '@mikro-orm/postgresql';
import { END_USER_OIDC } from '../oidc/pg-adapter.js';
import { execute, maybeOne, one, sql } from '../db/sql.js';
import type { LoginMethodKind } from '../identity/user-login-method.entity.js';

/** A user as the admin API shows it: never the phone number itself (only whether there is one). */
export interface AdminUserRow {
  id: string;
  nickname: string | null;
  avatarUrl: string | null;
  unionId: string | null;
  hasPhoneNumber: boolean;
  createdAt: Date;
  updatedAt: Date;
  deletedAt: Date | null;
  mergedIntoId: string | null;
  disabledAt: Date | null;
  disabledReason: string | null;
  activeSessions: number;
  /** Where this user stands in `users`' order: its creation time as PostgreSQL writes it (microseconds). */
  positionAt: string;
}

export interface AdminLoginMethodRow {
  userId: string;
  kind: LoginMethodKind;
  appId: string;
  openId: string;
  unionId: string | null;
  createdAt: Date;
  lastLoginAt: Date;
  unsubscribedAt: Date | null;
}

/** What `users` may be narrowed by; each given field must match (an exact match). */
export interface AdminUserFilter {
  openId?: string | null;
  unionId?: string | null;
  /** E.164; only matched, never shown. */
  phoneNumber?: string | null;
  appId?: string | null;
  /** true: only disabled users; false: only the others. */
  disabled?: boolean | null;
}

/**
 * Where a page starts: after the row with this time and id (a cursor's content; for users, their
 * creation time). The time is PostgreSQL's text of it, to the microsecond: a JavaScript Date would
 * round it to the millisecond, and rows made within one millisecond would come twice.
 */
export interface PagePosition {
  at: string;
  id: string;
}

const COLUMNS = `u.id, u.nickname, u.avatar_url as "avatarUrl", u.union_id as "unionId",
  u.phone_number is not null as "hasPhoneNumber", u.created_at as "createdAt", u.updated_at as "updatedAt",
  u.deleted_at as "deletedAt", u.merged_into_id as "mergedIntoId", u.created_at::text as "positionAt",
  u.disabled_at as "disabledAt", u.disabled_reason as "disabledReason",
  (select count(*) from session s where s.user_id = u.id and s.revoked_at is null and s.expires_at > :now)::int
    as "activeSessions"`;

/** A row as PostgreSQL gives it: timestamps as text (parse them with `dated`). */
export type Row<T> = {
  [K in keyof T]: T[K] extends Date ? string : T[K] extends Date | null ? string | null : T[K];
};

const USER = sql<'id' | 'now', Row<AdminUserRow>>(`select ${COLUMNS} from "user" u where u.id = :id`);

/**
 * A page of live users in creation order (then id): stable while users are added (they come
 * after), each page starting after the last one's position. Filters are all optional, so the
 * statement is planned with its values each time: a filter by identity or phone number goes
 * through that index, `disabled: true` through user_disabled_index, and no filter walks
 * user_live_created_at_index from the page's start (one row comparison, the first page's from the
 * smallest position), so a page costs its own rows, not every user before it.
 */
const USERS = sql<
  'now' | 'afterAt' | 'afterId' | 'unionId' | 'phoneNumber' | 'openId' | 'appId' | 'disabled' | 'limit',
  Row<AdminUserRow>
>(
  `
select ${COLUMNS} from "user" u
 where u.deleted_at is null
   and (u.created_at, u.id) > (coalesce(:afterAt::timestamptz, '-infinity'),
                               coalesce(:afterId::uuid, '00000000-0000-0000-0000-000000000000'::uuid))
   and (:unionId::text is null or u.union_id = :unionId::text)
   and (:phoneNumber::text is null or u.phone_number = :phoneNumber::text)
   and (:disabled::boolean is null or (u.disabled_at is not null) = :disabled::boolean)
   and ((:openId::text is null and :appId::text is null) or exists (
         select 1 from user_login_method lm where lm.user_id = u.id
            and (:openId::text is null or lm.open_id = :openId::text)
            and (:appId::text is null or lm.app_id = :appId::text)))
 order by u.created_at, u.id
 limit :limit`,
  { customPlan: true },
);

const METHODS = sql<'userIds', Row<AdminLoginMethodRow>>(`
select user_id as "userId", kind, app_id as "appId", open_id as "openId", union_id as "unionId",
       created_at as "createdAt", last_login_at as "lastLoginAt", unsubscribed_at as "unsubscribedAt"
  from user_login_method where user_id = any(:userIds::uuid[]) order by created_at, id`);

/**
 * Ends every open session of a user (refresh tokens and access tokens stop working at once), and
 * their OpenID Connect grants, sessions and tokens with them.
 */
const REVOKE_SESSIONS = sql<'userId' | 'now', { revoked: number }>(`
with o as (${END_USER_OIDC}), r as (
  update session set revoked_at = :now, revoked_reason = 'admin', updated_at = :now
   where user_id = :userId and revoked_at is null
  returning 1
)
select count(*)::int as revoked from r`);

/**
 * Takes the user `FOR UPDATE` (what a login's `FOR KEY SHARE` waits for: see RETURNING_LOGIN) and
 * reads it; nothing for an unknown id or a tombstone.
 */
const LOCK_FOR_DISABLE = sql<'id', { disabledAt: string | null }>(`
select disabled_at as "disabledAt" from "user" where id = :id and deleted_at is null for update`);

const SET_DISABLED = sql<'id' | 'now' | 'reason'>(`
update "user" set disabled_at = :now, disabled_reason = :reason, updated_at = :now where id = :id`);

/**
 * Ends the user's open sessions, as a disable ends them (USER_DISABLED when they are used), and
 * their OpenID Connect grants, sessions and tokens.
 */
const END_FOR_DISABLE = sql<'userId' | 'now'>(`
with o as (${END_USER_OIDC})
update session set revoked_at = :now, revoked_reason = 'user_disabled', updated_at = :now
 where user_id = :userId and revoked_at is null`);

/** Enables a live user if disabled, and says whether it was; no row for an unknown id or a tombstone. */
const ENABLE = sql<'id' | 'now', { wasDisabled: boolean }>(`
with u as (select id, disabled_at from "user" where id = :id and deleted_at is null for update),
e as (
  update "user" set disabled_at = null, disabled_reason = null, updated_at = :now
    from u where "user".id = u.id and u.disabled_at is not null
)
select u.disabled_at is not null as "wasDisabled" from u`);

/** Text timestamps of a row, parsed as the ORM's platform parses them. */
export function dated<T>(em: EntityManager, row: Row<T>, fields: readonly (keyof T)[]): T {
  const copy: Record<string, unknown> = { ...row };
  for (const field of fields) {
    const value = copy[field as string];
    copy[field as string] = value == null ? null : em.getPlatform().parseDate(value as string);
  }
  return copy as T;
}

const USER_DATES = ['createdAt', 'updatedAt', 'deletedAt', 'disabledAt'] as const;
const METHOD_DATES = ['createdAt', 'lastLoginAt', 'unsubscribedAt'] as const;

/** The SQL of the admin API's reads and its session revocation. */
export const AdminUsers = {
  async byId(em: EntityManager, id: string): Promise<AdminUserRow | null> {
    const row = await maybeOne(em, USER, { id, now: new Date() });
    return row ? dated<AdminUserRow>(em, row, USER_DATES) : null;
  },

  /** Up to `limit` live users after `after`, in creation order. */
  async page(
    em: EntityManager,
    filter: AdminUserFilter,
    after: PagePosition | null,
    limit: number,
  ): Promise<AdminUserRow[]> {
    const rows = await execute(em, USERS, {
      now: new Date(),
      afterAt: after?.at ?? null,
      afterId: after?.id ?? null,
      unionId: filter.unionId ?? null,
      phoneNumber: filter.phoneNumber ?? null,
      openId: filter.openId ?? null,
      appId: filter.appId ?? null,
      disabled: filter.disabled ?? null,
      limit,
    });
    return rows.map((row) => dated<AdminUserRow>(em, row, USER_DATES));
  },

  /** The login methods of these users, oldest first, in one query. */
  async loginMethods(em: EntityManager, userIds: readonly string[]): Promise<AdminLoginMethodRow[]> {
    const rows = await execute(em, METHODS, { userIds: [...userIds] });
    return rows.map((row) => dated<AdminLoginMethodRow>(em, row, METHOD_DATES));
  },

  /**
   * Disables a live user, in the caller's transaction: the row locked `FOR UPDATE` first, then
   * marked, then every open session ended, so a login that took the row before commits first and
   * its session is ended here, and a login after waits and finds the user disabled. A user
   * disabled already keeps the first time and reason ('already'). Null for an unknown id or a tombstone.
   */
  async disable(
    em: EntityManager,
    id: string,
    reason: string,
    now: Date,
  ): Promise<'disabled' | 'already' | null> {
    const row = await maybeOne(em, LOCK_FOR_DISABLE, { id });
    if (!row) return null;
    if (row.disabledAt === null) await execute(em, SET_DISABLED, { id, now, reason });
    await execute(em, END_FOR_DISABLE, { userId: id, now });
    return row.disabledAt === null ? 'disabled' : 'already';
  },

  /**
   * Enables a disabled user again (their ended sessions stay ended): 'enabled', 'already' for a
   * live user that was not disabled, null for an unknown id or a tombstone.
   */
  async enable(em: EntityManager, id: string, now: Date): Promise<'enabled' | 'already' | null> {
    const row = await maybeOne(em, ENABLE, { id, now });
    if (!row) return null;
    return row.wasDisabled ? 'enabled' : 'already';
  },

  /** How many sessions were open and are now ended. */
  async revokeSessions(em: EntityManager, userId: string, now: Date): Promise<number> {
    return (await one(em, REVOKE_SESSIONS, { userId, now })).revoked;
  },
};
