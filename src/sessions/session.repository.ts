import type { EntityManager } from '@mikro-orm/postgresql';
import { execute, maybeOne, one, sql } from '../db/sql.js';
import {
  OTHER_ACCOUNT_EXISTS,
  USER_SUMMARY_COLUMNS,
  userSummaryOf,
  type UserSummary,
  type UserSummaryRow,
} from '../identity/user.repository.js';

/**
 * Rotates a refresh token in one statement: the old one dies, the new one is written, the user is
 * read, with whether another user holds the unionId of one of its login methods (AuthPayload's
 * otherAccountExists). A token rotated after `graceStart` still matches (it keeps its first rotation time, so the
 * window does not stretch): a client that lost the answer, or two tabs refreshing at once, get
 * fresh tokens for the same session. Two concurrent uses: the second waits for the first's row
 * lock, then matches the rotated row within the window.
 */
export const ROTATE = sql<
  'now' | 'graceStart' | 'presentedHash' | 'newHash',
  UserSummaryRow & { sessionId: string; otherAccountExists: boolean }
>(`
with t as (
  update refresh_token set rotated_at = coalesce(rotated_at, :now)
   where token_hash = :presentedHash and (rotated_at is null or rotated_at > :graceStart)
  returning session_id
), s as (
  select s.id, s.user_id from session s join t on s.id = t.session_id
   where s.revoked_at is null and s.expires_at > :now
), n as (
  insert into refresh_token (token_hash, session_id, created_at) select :newHash, s.id, :now from s
)
select s.id as "sessionId", ${USER_SUMMARY_COLUMNS}, ${OTHER_ACCOUNT_EXISTS} as "otherAccountExists"
  from s join "user" u on u.id = s.user_id and u.deleted_at is null`);

/** A rotated refresh token presented again: its session is revoked (theft detection). */
const REVOKE_ON_REUSE = sql<'now' | 'presentedHash'>(`
update session set revoked_at = :now, revoked_reason = 'refresh_token_reuse', updated_at = :now
 where revoked_at is null
   and id = (select session_id from refresh_token where token_hash = :presentedHash and rotated_at is not null)`);

/**
 * Ends the session of a refresh token, current or rotated (logout with the refresh token alone).
 * `known` is false only when no session ever had this token.
 */
const REVOKE_BY_REFRESH_TOKEN = sql<'now' | 'presentedHash', { known: boolean }>(`
with t as (
  select session_id from refresh_token where token_hash = :presentedHash
), r as (
  update session set revoked_at = :now, revoked_reason = 'logout', updated_at = :now
   where revoked_at is null and id = (select session_id from t)
)
select exists (select 1 from t) as known`);

/**
 * The open session of an access token and its user, in one read (what `me` answers). A merge or
 * deletion ends the user's sessions; a tombstone is refused here too, whatever raced with that.
 */
export const OPEN_SESSION_USER = sql<'sessionId' | 'userId' | 'now', UserSummaryRow>(`
select ${USER_SUMMARY_COLUMNS} from session s join "user" u on u.id = s.user_id
 where s.id = :sessionId and s.user_id = :userId and s.revoked_at is null and s.expires_at > :now
   and u.deleted_at is null`);

/** Sessions and refresh tokens: the SQL of the sessions concern. */
export const SessionRepository = {
  /** The session and user of a rotated token, or null when nothing matched (unknown, reused late, ended). */
  async rotate(
    em: EntityManager,
    presentedHash: string,
    newHash: string,
    now: Date,
    graceStart: Date,
  ): Promise<{ sessionId: string; user: UserSummary; otherAccountExists: boolean } | null> {
    const row = await maybeOne(em, ROTATE, { now, graceStart, presentedHash, newHash });
    if (!row) return null;
    return {
      sessionId: row.sessionId,
      user: userSummaryOf(em, row),
      otherAccountExists: row.otherAccountExists,
    };
  },

  async revokeOnReuse(em: EntityManager, presentedHash: string, now: Date): Promise<void> {
    await execute(em, REVOKE_ON_REUSE, { now, presentedHash });
  },

  /** Ends a session by one of its refresh tokens; false when the token is unknown. */
  async revokeByRefreshToken(em: EntityManager, presentedHash: string, now: Date): Promise<boolean> {
    return (await one(em, REVOKE_BY_REFRESH_TOKEN, { now, presentedHash })).known;
  },

  async openSessionUser(
    em: EntityManager,
    sessionId: string,
    userId: string,
    now: Date,
  ): Promise<UserSummary | null> {
    const row = await maybeOne(em, OPEN_SESSION_USER, { sessionId, userId, now });
    return row ? userSummaryOf(em, row) : null;
  },
};
