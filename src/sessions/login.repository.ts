import type { EntityManager } from '@mikro-orm/postgresql';
import { auditLoginInsert, type AuditLoginParams } from '../audit/audit-log.js';
import { maybeOne, sql } from '../db/sql.js';
import type { User } from '../identity/user.entity.js';
import {
  USER_SUMMARY_COLUMNS,
  userSummaryOf,
  type UserSummary,
  type UserSummaryRow,
} from '../identity/user.repository.js';
import { RefreshToken } from './refresh-token.entity.js';
import type { SessionDevice } from './session-device.js';
import { Session } from './session.entity.js';

/** A session about to be written: its id, the hash of its refresh token, its end, its device. */
export interface SessionRows {
  sessionId: string;
  tokenHash: string;
  expiresAt: Date;
  device: SessionDevice;
}

/** The parameters a session's insert takes (sessionInserts, NEW_USER_LOGIN). */
export type SessionParams = 'sessionId' | 'sessionExpiresAt' | 'tokenHash' | 'userAgent' | 'ipPrefix';

/** A session's values for its insert's parameters. */
export const sessionParams = (session: SessionRows): Record<SessionParams, unknown> => ({
  sessionId: session.sessionId,
  sessionExpiresAt: session.expiresAt,
  tokenHash: session.tokenHash,
  userAgent: session.device.userAgent,
  ipPrefix: session.device.ipPrefix,
});

/**
 * The CTEs that open a session in a one-statement login: `s`, the session of the user in
 * `source`'s `user_id` column (one per row of `source`, none when it is empty), and `r`, its
 * refresh token. Parameters :now and SessionParams.
 */
export const sessionInserts = (source: string) => `s as (
  insert into session (id, created_at, updated_at, last_used_at, user_id, expires_at, user_agent, ip_prefix)
  select :sessionId, :now, :now, :now, ${source}.user_id, :sessionExpiresAt, :userAgent, :ipPrefix from ${source}
  returning id, user_id
), r as (
  insert into refresh_token (token_hash, session_id, created_at)
  select :tokenHash, s.id, :now from s
)`;

/**
 * The returning-user login in ONE statement (atomic on its own): refresh the login method, open
 * the session, write its refresh token and its `login.succeeded` audit event, read the user and whether ANOTHER user holds this
 * identity's unionId (`other_account_exists`: the login's unionId, else the one stored on the
 * method). It matches only when nothing else has to change (same unionId on the method, and the
 * user either holds a unionId or cannot claim this one because another user holds it; profile fresh
 * enough or not asked for); otherwise it writes nothing and the caller takes the full
 * find-or-register path (AccountService.findOrRegister), which claims a unionId nobody holds.
 * The subqueries run only when the login carries a unionId its user does not hold.
 *
 * A disabled user matches nothing (the full path answers USER_DISABLED). The user's row is taken
 * `FOR KEY SHARE` (the lock the session's foreign key takes anyway) in `u`, with the test of
 * `disabled_at`: a disable (AdminUsers.disable, `FOR UPDATE`) that holds the row makes this wait
 * and then test the row as the disable left it, and a disable that comes second waits for this
 * login to commit and then ends the session it opened. No session outlives a disable.
 */
export const RETURNING_LOGIN = sql<
  | 'now'
  | 'accessCode'
  | 'appId'
  | 'openId'
  | 'unionId'
  | 'profileFreshAfter'
  | SessionParams
  | AuditLoginParams,
  UserSummaryRow & { otherAccountExists: boolean }
>(`
with u as (
  select u.* from user_login_method lm join "user" u on u.id = lm.user_id
   where lm.app_id = :appId and lm.open_id = :openId and u.disabled_at is null
     for key share of u
), m as (
  update user_login_method lm
     set last_login_at = :now, updated_at = :now, access_code = coalesce(:accessCode, lm.access_code)
    from u
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
), ${sessionInserts('m')}, ${auditLoginInsert('s', ':appId', ':openId')}
select ${USER_SUMMARY_COLUMNS}, m.other_account_exists as "otherAccountExists"
  from s join m on m.user_id = s.user_id join u on u.id = s.user_id`);

/**
 * A first login in ONE statement (atomic on its own): a new user, its login method, a session, its
 * refresh token, the `user.created` outbox rows and the `login.succeeded` audit event, all or nothing. It writes only when nobody
 * holds this (appId, openId), nobody holds its unionId and no imported user has its phone number;
 * otherwise it writes nothing (no row back) and the caller takes the full find-or-register path,
 * which links or finds the holder (or the imported user of that number). Two
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
  | SessionParams
  | 'messageId'
  | 'eventBody'
  | 'endpoints'
  | AuditLoginParams,
  UserSummaryRow
>(`
with u as (
  insert into "user" (id, created_at, updated_at, union_id, nickname, avatar_url, phone_number)
  select :userId, :now, :now, :unionId, :nickname, :avatarUrl, :phoneNumber
   where not exists (select 1 from user_login_method lm where lm.app_id = :appId and lm.open_id = :openId)
     and (:unionId::text is null or not exists (select 1 from "user" h where h.union_id = :unionId::text))
     and (:phoneNumber::text is null or not exists
           (select 1 from "user" p where p.phone_number = :phoneNumber::text and p.external_id is not null))
  returning *
), m as (
  insert into user_login_method
    (id, created_at, updated_at, user_id, kind, app_id, open_id, union_id, access_code, last_login_at, profile_refreshed_at)
  select :methodId, :now, :now, u.id, :kind, :appId, :openId, :unionId, :accessCode, :now, :profileRefreshedAt from u
), s as (
  insert into session (id, created_at, updated_at, last_used_at, user_id, expires_at, user_agent, ip_prefix)
  select :sessionId, :now, :now, :now, u.id, :sessionExpiresAt, :userAgent, :ipPrefix from u
  returning id, user_id
), r as (
  insert into refresh_token (token_hash, session_id, created_at)
  select :tokenHash, s.id, :now from s
), w as (
  insert into webhook_delivery (message_id, endpoint, type, user_id, body, next_attempt_at, created_at)
  select :messageId, e.endpoint, 'user.created', u.id, :eventBody, :now, :now
    from u, jsonb_array_elements_text(:endpoints::jsonb) as e(endpoint)
), ${auditLoginInsert('s', ':appId', ':openId')}
select ${USER_SUMMARY_COLUMNS} from u`);

export interface ReturningLogin {
  appId: string;
  openId: string;
  unionId: string | undefined;
  /** Sealed already; null keeps the stored one. */
  sealedAccessCode: string | null;
  /** Match only if the profile was fetched after this (web/app daily refresh); null: any. */
  profileFreshAfter: Date | null;
  session: SessionRows;
  now: Date;
  /** Its `login.succeeded` audit event's request id and details (AuditLog.loginParams). */
  audit: Record<AuditLoginParams, unknown>;
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
  session: SessionRows;
  /** The `user.created` outbox rows: one per endpoint, one message id; none without endpoints. */
  event: { messageId: string; body: string; endpoints: readonly string[] } | null;
  /** Its `login.succeeded` audit event's request id and details (AuditLog.loginParams). */
  audit: Record<AuditLoginParams, unknown>;
}

/**
 * Where sessions are opened: with a returning login in one statement, with a first login in one
 * statement, or inside a transaction's unit of work (the full find-or-register path, a joined
 * duplicate login). A login ticket's handover opens one with `sessionInserts` too
 * (src/login-tickets/login-ticket.repository.ts).
 */
export const LoginRepository = {
  /**
   * See RETURNING_LOGIN: the user and whether another user holds this identity's unionId, or null
   * when this login needs the full path.
   */
  async returning(
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
      ...sessionParams(login.session),
      ...login.audit,
    });
    if (!row) return null;
    return { user: userSummaryOf(em, row), otherAccountExists: row.otherAccountExists };
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
      ...sessionParams(login.session),
      messageId: login.event?.messageId ?? null,
      eventBody: login.event?.body ?? null,
      endpoints: JSON.stringify(login.event?.endpoints ?? []),
      ...login.audit,
    });
    return row ? userSummaryOf(em, row) : null;
  },

  /** A session and its refresh token, written when the caller's transaction flushes. */
  openSession(em: EntityManager, user: User, session: SessionRows, now: Date): void {
    const row = em.create(Session, {
      id: session.sessionId,
      user,
      expiresAt: session.expiresAt,
      createdAt: now,
      updatedAt: now,
      lastUsedAt: now,
      ...session.device,
    });
    em.create(RefreshToken, { tokenHash: session.tokenHash, session: row, createdAt: now });
  },
};
