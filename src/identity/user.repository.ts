import type { EntityManager } from '@mikro-orm/postgresql';
import { execute, sql } from '../db/sql.js';
import { User } from './user.entity.js';
import { UserLoginMethod } from './user-login-method.entity.js';

/** A `user` row as PostgreSQL returns it (`select u.*`), for `em.map(User, row)`. */
export type UserRow = Record<string, unknown>;

/**
 * The returning-user login in ONE statement (atomic on its own): refresh the login method, open
 * the session, write its refresh token, read the user. It matches only when nothing else has to
 * change (same unionId, profile fresh enough or not asked for); otherwise it writes nothing and the
 * caller takes the full find-or-register path (AccountService.findOrRegister).
 */
const RETURNING_LOGIN = sql<
  | 'now'
  | 'accessCode'
  | 'appId'
  | 'openId'
  | 'unionId'
  | 'profileFreshAfter'
  | 'sessionId'
  | 'sessionExpiresAt'
  | 'tokenHash',
  UserRow
>(`
with m as (
  update user_login_method
     set last_login_at = :now, updated_at = :now, access_code = coalesce(:accessCode, access_code)
   where app_id = :appId and open_id = :openId
     and (:unionId::text is null or union_id = :unionId)
     and (:profileFreshAfter::timestamptz is null or profile_refreshed_at > :profileFreshAfter)
  returning user_id
), s as (
  insert into session (id, created_at, updated_at, user_id, expires_at)
  select :sessionId, :now, :now, m.user_id, :sessionExpiresAt from m
  returning id, user_id
), r as (
  insert into refresh_token (token_hash, session_id, created_at)
  select :tokenHash, s.id, :now from s
)
select u.* from s join "user" u on u.id = s.user_id`);

/** A user's phone number, in one statement; the user, or nothing when they no longer exist. */
const SET_PHONE_NUMBER = sql<'userId' | 'phoneNumber' | 'now', UserRow>(`
update "user" set phone_number = :phoneNumber, updated_at = :now where id = :userId returning *`);

export interface ReturningLogin {
  appId: string;
  openId: string;
  unionId: string | undefined;
  /** Sealed already; null keeps the stored one. */
  sealedAccessCode: string | null;
  /** Match only if the profile was fetched after this (web/app daily refresh); null: any. */
  profileFreshAfter: Date | null;
  session: { sessionId: string; tokenHash: string; expiresAt: Date };
  now: Date;
}

/** Users and their login methods: the SQL of the identity concern. */
export const UserRepository = {
  /** See RETURNING_LOGIN: the user, or null when this login needs the full path. */
  async loginReturning(em: EntityManager, login: ReturningLogin): Promise<User | null> {
    const rows = await execute(em, RETURNING_LOGIN, {
      now: login.now,
      accessCode: login.sealedAccessCode,
      appId: login.appId,
      openId: login.openId,
      unionId: login.unionId ?? null,
      profileFreshAfter: login.profileFreshAfter,
      sessionId: login.session.sessionId,
      sessionExpiresAt: login.session.expiresAt,
      tokenHash: login.session.tokenHash,
    });
    return rows[0] ? em.map(User, rows[0]) : null;
  },

  /** Stores a user's phone number (E.164); null when the user no longer exists. */
  async setPhoneNumber(
    em: EntityManager,
    userId: string,
    phoneNumber: string,
    now: Date,
  ): Promise<User | null> {
    const rows = await execute(em, SET_PHONE_NUMBER, { userId, phoneNumber, now });
    return rows[0] ? em.map(User, rows[0]) : null;
  },

  /** The login methods of these users, oldest first, in one query. */
  loginMethodsOf(em: EntityManager, userIds: readonly string[]): Promise<UserLoginMethod[]> {
    return em.find(
      UserLoginMethod,
      { user: { $in: [...userIds] } },
      { orderBy: { createdAt: 'asc', id: 'asc' } },
    );
  },
};
