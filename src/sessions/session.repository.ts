import type { EntityManager } from '@mikro-orm/postgresql';
import { AuditLog, auditInsert, type AuditClientParams } from '../audit/audit-log.js';
import { dateOf, execute, maybeOne, one, sql } from '../db/sql.js';
import {
  OTHER_ACCOUNT_EXISTS,
  USER_SUMMARY_COLUMNS,
  userSummaryOf,
  type UserSummary,
  type UserSummaryRow,
} from '../identity/user.repository.js';
import type { RequestClient, SessionDevice } from './session-device.js';

/**
 * Rotates a refresh token in one statement: the old one dies, the new one is written, the session
 * records its use (last_used_at, the refresher's user agent and IP prefix), the user is read, with
 * whether another user holds the unionId of one of its login methods (AuthPayload's
 * otherAccountExists). A token rotated after `graceStart` still matches (it keeps its first rotation time, so the
 * window does not stretch): a client that lost the answer, or two tabs refreshing at once, get
 * fresh tokens for the same session. Two concurrent uses: the second waits for the first's row
 * lock, then matches the rotated row within the window.
 */
export const ROTATE = sql<
  'now' | 'graceStart' | 'presentedHash' | 'newHash' | 'userAgent' | 'ipPrefix',
  UserSummaryRow & { sessionId: string; otherAccountExists: boolean }
>(`
with t as (
  update refresh_token set rotated_at = coalesce(rotated_at, :now)
   where token_hash = :presentedHash and (rotated_at is null or rotated_at > :graceStart)
  returning session_id
), s as (
  update session s set last_used_at = :now, user_agent = :userAgent, ip_prefix = :ipPrefix, updated_at = :now
    from t where s.id = t.session_id and s.revoked_at is null and s.expires_at > :now
  returning s.id, s.user_id
), n as (
  insert into refresh_token (token_hash, session_id, created_at) select :newHash, s.id, :now from s
)
select s.id as "sessionId", ${USER_SUMMARY_COLUMNS}, ${OTHER_ACCOUNT_EXISTS} as "otherAccountExists"
  from s join "user" u on u.id = s.user_id and u.deleted_at is null`);

/**
 * A rotated refresh token presented again: its session is revoked (theft detection), with a
 * `session.refresh_token_reused` audit event (the presenter is nobody we know: anonymous).
 */
const REVOKE_ON_REUSE = sql<'now' | 'presentedHash' | AuditClientParams>(`
with r as (
  update session set revoked_at = :now, revoked_reason = 'refresh_token_reuse', updated_at = :now
   where revoked_at is null
     and id = (select session_id from refresh_token where token_hash = :presentedHash and rotated_at is not null)
  returning id, user_id
)
${auditInsert('r', {
  type: 'session.refresh_token_reused',
  userId: 'r.user_id',
  actorType: 'anonymous',
  actorId: 'null',
  details: "jsonb_build_object('sessionId', r.id)",
})}`);

/** The `session.revoked` event of each session in `r` (id, user_id), by its user, for `reason` (SQL). */
const sessionRevoked = (reason: string) =>
  auditInsert('r', {
    type: 'session.revoked',
    userId: 'r.user_id',
    actorType: 'user',
    actorId: 'r.user_id::text',
    details: `jsonb_build_object('sessionId', r.id, 'reason', ${reason})`,
  });

/**
 * Ends the session of a refresh token, current or rotated (logout with the refresh token alone).
 * `known` is false only when no session ever had this token.
 */
const REVOKE_BY_REFRESH_TOKEN = sql<'now' | 'presentedHash' | AuditClientParams, { known: boolean }>(`
with t as (
  select session_id from refresh_token where token_hash = :presentedHash
), r as (
  update session set revoked_at = :now, revoked_reason = 'logout', updated_at = :now
   where revoked_at is null and id = (select session_id from t)
  returning id, user_id
), a as (
  ${sessionRevoked("'logout'")}
)
select exists (select 1 from t) as known`);

/**
 * The open session of an access token and its user, in one read (what `me` answers). A merge or
 * deletion ends the user's sessions; a tombstone is refused here too, whatever raced with that.
 * A session a disable ended comes back with `disabled` while the user is disabled (USER_DISABLED
 * rather than "the session has ended").
 *
 * The session is found by its id alone (materialized: its primary key), then checked against the
 * token's user. Given both, a generic plan may look the session up by `user_id` instead and filter
 * on the id: one row for most people, but every session of someone who opened thousands.
 */
export const OPEN_SESSION_USER = sql<'sessionId' | 'userId' | 'now', UserSummaryRow & { disabled: boolean }>(`
with s as materialized (select * from session where id = :sessionId)
select ${USER_SUMMARY_COLUMNS}, u.disabled_at is not null as disabled
  from s join "user" u on u.id = s.user_id
 where s.user_id = :userId and s.expires_at > :now and u.deleted_at is null
   and (s.revoked_at is null or (s.revoked_reason = 'user_disabled' and u.disabled_at is not null))`);

/** Whether a refresh token's session was ended by a disable of a user still disabled. */
const DISABLED_BY_TOKEN = sql<'presentedHash', { disabled: boolean }>(`
select true as disabled
  from refresh_token t join session s on s.id = t.session_id join "user" u on u.id = s.user_id
 where t.token_hash = :presentedHash and s.revoked_reason = 'user_disabled' and u.disabled_at is not null`);

/** The most sessions a person's list shows: more are kept and work, only the least recently used are not listed. */
export const MAX_LISTED_SESSIONS = 100;

/** A user's live sessions (not revoked, not expired), most recently used first. */
const LIVE_SESSIONS = sql<
  'userId' | 'now',
  Omit<SessionRow, 'createdAt' | 'lastUsedAt'> & { createdAt: string; lastUsedAt: string }
>(`
select id, created_at as "createdAt", last_used_at as "lastUsedAt", user_agent as "userAgent", ip_prefix as "ipPrefix"
  from session where user_id = :userId and revoked_at is null and expires_at > :now
 order by last_used_at desc, id limit ${MAX_LISTED_SESSIONS}`);

/**
 * Ends one of a user's live sessions (revokeSession, or a logout with the access token: `reason`),
 * with its `session.revoked` audit event; no row when it is not one of theirs or has ended.
 */
const REVOKE_OWN = sql<'id' | 'userId' | 'now' | 'reason' | AuditClientParams, { id: string }>(`
with r as (
  update session set revoked_at = :now, revoked_reason = :reason, updated_at = :now
   where id = :id and user_id = :userId and revoked_at is null and expires_at > :now
  returning id, user_id
), a as (
  ${sessionRevoked(':reason::text')}
)
select id from r`);

/** A session as its person's list shows it. */
export interface SessionRow {
  id: string;
  createdAt: Date;
  lastUsedAt: Date;
  userAgent: string | null;
  ipPrefix: string | null;
}

/** Sessions and refresh tokens: the SQL of the sessions concern. */
export const SessionRepository = {
  /** The session and user of a rotated token, or null when nothing matched (unknown, reused late, ended). */
  async rotate(
    em: EntityManager,
    presentedHash: string,
    newHash: string,
    device: SessionDevice,
    now: Date,
    graceStart: Date,
  ): Promise<{ sessionId: string; user: UserSummary; otherAccountExists: boolean } | null> {
    const row = await maybeOne(em, ROTATE, { now, graceStart, presentedHash, newHash, ...device });
    if (!row) return null;
    return {
      sessionId: row.sessionId,
      user: userSummaryOf(em, row),
      otherAccountExists: row.otherAccountExists,
    };
  },

  async revokeOnReuse(
    em: EntityManager,
    presentedHash: string,
    now: Date,
    client: RequestClient,
  ): Promise<void> {
    await execute(em, REVOKE_ON_REUSE, { now, presentedHash, ...AuditLog.clientParams(client) });
  },

  /** Ends a session by one of its refresh tokens; false when the token is unknown. */
  async revokeByRefreshToken(
    em: EntityManager,
    presentedHash: string,
    now: Date,
    client: RequestClient,
  ): Promise<boolean> {
    return (await one(em, REVOKE_BY_REFRESH_TOKEN, { now, presentedHash, ...AuditLog.clientParams(client) }))
      .known;
  },

  /** The open session's user; 'disabled' for a session a disable ended; null for any other. */
  async openSessionUser(
    em: EntityManager,
    sessionId: string,
    userId: string,
    now: Date,
  ): Promise<UserSummary | 'disabled' | null> {
    const row = await maybeOne(em, OPEN_SESSION_USER, { sessionId, userId, now });
    if (!row) return null;
    return row.disabled ? 'disabled' : userSummaryOf(em, row);
  },

  /** Whether this refresh token's session was ended by a disable of a user still disabled. */
  async disabledByToken(em: EntityManager, presentedHash: string): Promise<boolean> {
    return (await maybeOne(em, DISABLED_BY_TOKEN, { presentedHash })) !== undefined;
  },

  /** See LIVE_SESSIONS. */
  async liveSessions(em: EntityManager, userId: string, now: Date): Promise<SessionRow[]> {
    const rows = await execute(em, LIVE_SESSIONS, { userId, now });
    return rows.map((row) => ({
      ...row,
      createdAt: dateOf(em, row.createdAt),
      lastUsedAt: dateOf(em, row.lastUsedAt),
    }));
  },

  /** See REVOKE_OWN: true when this ended one of the user's live sessions. */
  async revokeOwn(
    em: EntityManager,
    session: { id: string; userId: string; reason: 'revoked_by_user' | 'logout' | 'oidc_sign_in' },
    now: Date,
    client: RequestClient,
  ): Promise<boolean> {
    const params = { ...session, now, ...AuditLog.clientParams(client) };
    return (await maybeOne(em, REVOKE_OWN, params)) !== undefined;
  },
};
