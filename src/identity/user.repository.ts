import type { EntityManager } from '@mikro-orm/postgresql';
import { maybeOne, sql } from '../db/sql.js';
import { User } from './user.entity.js';
import { UserLoginMethod } from './user-login-method.entity.js';

/** A `user` row as PostgreSQL returns it (`select u.*`), for `em.map(User, row)`. */
export type UserRow = Record<string, unknown>;

/**
 * What a login, a refresh and `me` answer of a user (the fields of its GraphQL face): a plain
 * object read straight from the row, not an entity managed by the ORM (nothing changes it).
 */
export type UserSummary = Pick<User, 'id' | 'nickname' | 'avatarUrl' | 'phoneNumber' | 'createdAt'>;

/** The columns of a UserSummary, from the user table as `u` (the hot statements select these). */
export const USER_SUMMARY_COLUMNS = 'u.id, u.nickname, u.avatar_url, u.phone_number, u.created_at';

/** A row of USER_SUMMARY_COLUMNS. */
export interface UserSummaryRow {
  id: string;
  nickname: string | null;
  avatar_url: string | null;
  phone_number: string | null;
  /** The ORM's driver leaves timestamps as PostgreSQL's text; its platform parses them. */
  created_at: string;
}

/** A UserSummary from its row. */
export function userSummaryOf(em: EntityManager, row: UserSummaryRow): UserSummary {
  return {
    id: row.id,
    nickname: row.nickname,
    avatarUrl: row.avatar_url,
    phoneNumber: row.phone_number,
    createdAt: em.getPlatform().parseDate(row.created_at) as Date,
  };
}

/**
 * The returning-user login in ONE statement (atomic on its own): refresh the login method, open
 * the session, write its refresh token, read the user and whether ANOTHER user holds this
 * identity's unionId (`other_account_exists`: the login's unionId, else the one stored on the
 * method). It matches only when nothing else has to change (same unionId on the method, and the
 * user either holds a unionId or cannot claim this one because another user holds it; profile fresh
 * enough or not asked for); otherwise it writes nothing and the caller takes the full
 * find-or-register path (AccountService.findOrRegister), which claims a unionId nobody holds.
 * The `"user"` rows are read through their primary key and the unique index on union_id, not
 * locked; the subqueries run only when the login carries a unionId its user does not hold.
 */
export const RETURNING_LOGIN = sql<
  | 'now'
  | 'accessCode'
  | 'appId'
  | 'openId'
  | 'unionId'
  | 'profileFreshAfter'
  | 'sessionId'
  | 'sessionExpiresAt'
  | 'tokenHash',
  UserSummaryRow & { other_account_exists: boolean }
>(`
with m as (
  update user_login_method lm
     set last_login_at = :now, updated_at = :now, access_code = coalesce(:accessCode, lm.access_code)
    from "user" u
   where lm.app_id = :appId and lm.open_id = :openId and u.id = lm.user_id
     and (:unionId::text is null
          or (lm.union_id = :unionId::text
              and (u.union_id is not null
                   or exists (select 1 from "user" h where h.union_id = :unionId::text))))
     and (:profileFreshAfter::timestamptz is null or lm.profile_refreshed_at > :profileFreshAfter)
  returning lm.user_id,
    (coalesce(:unionId::text, lm.union_id) is distinct from u.union_id
      and exists (select 1 from "user" o
                   where o.union_id = coalesce(:unionId::text, lm.union_id) and o.id <> u.id))
      as other_account_exists
), s as (
  insert into session (id, created_at, updated_at, user_id, expires_at)
  select :sessionId, :now, :now, m.user_id, :sessionExpiresAt from m
  returning id, user_id
), r as (
  insert into refresh_token (token_hash, session_id, created_at)
  select :tokenHash, s.id, :now from s
)
select ${USER_SUMMARY_COLUMNS}, m.other_account_exists
  from s join m on m.user_id = s.user_id join "user" u on u.id = s.user_id`);

/**
 * A first login in ONE statement (atomic on its own): a new user, its login method, a session, its
 * refresh token and the `user.created` outbox rows, all or nothing. It writes only when nobody
 * holds this (appId, openId) and nobody holds its unionId; otherwise it writes nothing (no row
 * back) and the caller takes the full find-or-register path, which links or finds the holder. Two
 * concurrent first logins of one person both pass the checks: the second one's insert waits for
 * the first to commit and then fails on a unique index (the whole statement, nothing written); its
 * retry takes the full path and finds the first one's user.
 */
export const NEW_USER_LOGIN = sql<
  | 'now'
  | 'userId'
  | 'unionId'
  | 'nickname'
  | 'avatarUrl'
  | 'phoneNumber'
  | 'methodId'
  | 'kind'
  | 'appId'
  | 'openId'
  | 'accessCode'
  | 'profileRefreshedAt'
  | 'sessionId'
  | 'sessionExpiresAt'
  | 'tokenHash'
  | 'messageId'
  | 'eventBody'
  | 'endpoints',
  UserSummaryRow
>(`
with u as (
  insert into "user" (id, created_at, updated_at, union_id, nickname, avatar_url, phone_number)
  select :userId, :now, :now, :unionId, :nickname, :avatarUrl, :phoneNumber
   where not exists (select 1 from user_login_method lm where lm.app_id = :appId and lm.open_id = :openId)
     and (:unionId::text is null or not exists (select 1 from "user" h where h.union_id = :unionId::text))
  returning *
), m as (
  insert into user_login_method
    (id, created_at, updated_at, user_id, kind, app_id, open_id, union_id, access_code, last_login_at, profile_refreshed_at)
  select :methodId, :now, :now, u.id, :kind, :appId, :openId, :unionId, :accessCode, :now, :profileRefreshedAt from u
), s as (
  insert into session (id, created_at, updated_at, user_id, expires_at)
  select :sessionId, :now, :now, u.id, :sessionExpiresAt from u
  returning id
), r as (
  insert into refresh_token (token_hash, session_id, created_at)
  select :tokenHash, s.id, :now from s
), w as (
  insert into webhook_delivery (message_id, endpoint, type, user_id, body, next_attempt_at, created_at)
  select :messageId, e.endpoint, 'user.created', u.id, :eventBody, :now, :now
    from u, jsonb_array_elements_text(:endpoints::jsonb) as e(endpoint)
)
select ${USER_SUMMARY_COLUMNS} from u`);

/** A user's phone number, in one statement; the user, or nothing when the account has ended. */
const SET_PHONE_NUMBER = sql<'userId' | 'phoneNumber' | 'now', UserRow>(`
update "user" set phone_number = :phoneNumber, updated_at = :now
 where id = :userId and deleted_at is null returning *`);

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

export interface NewUserLogin {
  now: Date;
  /** The new user's and login method's ids, made beforehand (the event names them). */
  userId: string;
  methodId: string;
  kind: string;
  appId: string;
  openId: string;
  unionId: string | undefined;
  nickname: string | null;
  avatarUrl: string | null;
  phoneNumber: string | null;
  /** Sealed already. */
  sealedAccessCode: string | null;
  profileRefreshedAt: Date | null;
  session: { sessionId: string; tokenHash: string; expiresAt: Date };
  /** The `user.created` outbox rows: one per endpoint, one message id; none without endpoints. */
  event: { messageId: string; body: string; endpoints: readonly string[] } | null;
}

/** Users and their login methods: the SQL of the identity concern. */
export const UserRepository = {
  /**
   * See RETURNING_LOGIN: the user and whether another user holds this identity's unionId, or null
   * when this login needs the full path.
   */
  async loginReturning(
    em: EntityManager,
    login: ReturningLogin,
  ): Promise<{ user: UserSummary; otherAccountExists: boolean } | null> {
    const row = await maybeOne(em, RETURNING_LOGIN, {
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
    if (!row) return null;
    const { other_account_exists: otherAccountExists, ...user } = row;
    return { user: userSummaryOf(em, user), otherAccountExists };
  },

  /**
   * See NEW_USER_LOGIN: the new user, or null when this identity or its unionId is held already
   * (the full path's case). A concurrent first login of the same person fails it with a unique
   * violation, for the caller to retry on the full path.
   */
  async registerNew(em: EntityManager, login: NewUserLogin): Promise<UserSummary | null> {
    const row = await maybeOne(em, NEW_USER_LOGIN, {
      now: login.now,
      userId: login.userId,
      unionId: login.unionId ?? null,
      nickname: login.nickname,
      avatarUrl: login.avatarUrl,
      phoneNumber: login.phoneNumber,
      methodId: login.methodId,
      kind: login.kind,
      appId: login.appId,
      openId: login.openId,
      accessCode: login.sealedAccessCode,
      profileRefreshedAt: login.profileRefreshedAt,
      sessionId: login.session.sessionId,
      sessionExpiresAt: login.session.expiresAt,
      tokenHash: login.session.tokenHash,
      messageId: login.event?.messageId ?? null,
      eventBody: login.event?.body ?? null,
      endpoints: JSON.stringify(login.event?.endpoints ?? []),
    });
    return row ? userSummaryOf(em, row) : null;
  },

  /** Stores a user's phone number (E.164); null when the user no longer exists. */
  async setPhoneNumber(
    em: EntityManager,
    userId: string,
    phoneNumber: string,
    now: Date,
  ): Promise<User | null> {
    const row = await maybeOne(em, SET_PHONE_NUMBER, { userId, phoneNumber, now });
    return row ? em.map(User, row) : null;
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
