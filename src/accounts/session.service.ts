import { randomBytes, randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { UnauthenticatedError } from '../errors.js';
import { userSummaryFromRow, type UserRow, type UserSummary } from './account.service.js';
import { RefreshToken } from './refresh-token.entity.js';
import { deriveKey, sha256 } from './secrets.js';
import { Session } from './session.entity.js';
import { User } from './user.entity.js';

const ISSUER = 'wechat-login-server';

export interface SessionSettings {
  authSecret: string;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
}

export interface IssuedTokens {
  accessToken: string;
  refreshToken: string;
  /** When the access token expires. */
  expiresAt: Date;
}

/** An opaque refresh token (256 random bits) and the hash that is all we store of it. */
function newRefreshToken(): { refreshToken: string; tokenHash: string } {
  const refreshToken = `rt_${randomBytes(32).toString('base64url')}`;
  return { refreshToken, tokenHash: sha256(refreshToken) };
}

/** A session about to be written: ids and the refresh token (its hash is what is stored). */
export interface NewSession {
  sessionId: string;
  refreshToken: string;
  tokenHash: string;
  expiresAt: Date;
}

export interface Authenticated {
  userId: string;
  sessionId: string;
  user: UserSummary;
}

/**
 * Our own sessions: a short-lived JWT access token (HS256, subject = user id, `sid` = session id)
 * and an opaque refresh token stored only as a hash, rotated on every use; presenting a rotated one
 * again revokes the whole session (the token was stolen, or the client is confused: either way,
 * sign in again).
 */
export class SessionService {
  private readonly key: Uint8Array;

  constructor(private readonly settings: SessionSettings) {
    this.key = deriveKey(settings.authSecret, 'access-token');
  }

  /** Opens a session for the user, inside the caller's transaction. */
  async create(em: EntityManager, user: User, now = new Date()): Promise<IssuedTokens> {
    const prepared = this.prepare(now);
    const session = em.create(Session, {
      id: prepared.sessionId,
      user,
      expiresAt: prepared.expiresAt,
      createdAt: now,
      updatedAt: now,
    });
    em.create(RefreshToken, { tokenHash: prepared.tokenHash, session, createdAt: now });
    return this.issue(user.id, prepared, now);
  }

  /** The rows of a new session, for callers that write them with their own SQL (the login fast path). */
  prepare(now: Date): NewSession {
    return {
      sessionId: randomUUID(),
      ...newRefreshToken(),
      expiresAt: new Date(now.getTime() + this.settings.refreshTokenTtlSeconds * 1000),
    };
  }

  /** Tokens for a session written with prepare(). */
  async issue(userId: string, session: NewSession, now: Date): Promise<IssuedTokens> {
    return {
      ...(await this.accessToken(userId, session.sessionId, now)),
      refreshToken: session.refreshToken,
    };
  }

  /**
   * Rotates a refresh token in one statement: the old one dies, a new one is written, the user is
   * read. When nothing matched, a second statement tells apart an unknown token from a rotated one
   * presented again, and revokes the session in that case (theft detection). Two concurrent uses of
   * one token: the second waits for the first's row lock, finds it rotated, and revokes.
   */
  async refresh(em: EntityManager, presented: string): Promise<IssuedTokens & { user: UserSummary }> {
    const now = new Date();
    const hash = sha256(presented);
    const { refreshToken, tokenHash } = newRefreshToken();
    const connection = em.getConnection();
    const rows = await connection.execute<Array<UserRow & { session_id: string }>>(
      `with t as (
         update refresh_token set rotated_at = ? where token_hash = ? and rotated_at is null returning session_id
       ), s as (
         select s.id, s.user_id from session s join t on s.id = t.session_id
          where s.revoked_at is null and s.expires_at > ?
       ), n as (
         insert into refresh_token (token_hash, session_id, created_at) select ?, s.id, ? from s
       )
       select s.id as session_id, u.id, u.nickname, u.avatar_url, u.created_at
         from s join "user" u on u.id = s.user_id`,
      [now, hash, now, tokenHash, now],
    );
    const row = rows[0];
    if (!row) {
      await connection.execute(
        `update session set revoked_at = ?, revoked_reason = 'refresh_token_reuse', updated_at = ?
          where revoked_at is null
            and id = (select session_id from refresh_token where token_hash = ? and rotated_at is not null)`,
        [now, now, hash],
      );
      throw new UnauthenticatedError('The refresh token is invalid, expired or revoked: sign in again');
    }
    const user = userSummaryFromRow(row);
    return { ...(await this.accessToken(user.id, row.session_id, now)), refreshToken, user };
  }

  /**
   * Checks an access token and that its session is still open. `undefined` header: anonymous;
   * anything else that does not check out: UNAUTHENTICATED.
   */
  async authenticate(em: EntityManager, authorization: string | undefined): Promise<Authenticated | null> {
    if (authorization === undefined || authorization === '') return null;
    const match = /^Bearer ([A-Za-z0-9_\-.]+)$/.exec(authorization.trim());
    if (!match) throw new UnauthenticatedError('The Authorization header must be "Bearer <accessToken>"');
    let claims: { sub?: string; sid?: unknown };
    try {
      ({ payload: claims } = await jwtVerify(match[1]!, this.key, {
        issuer: ISSUER,
        audience: ISSUER,
        algorithms: ['HS256'],
      }));
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired)
        throw new UnauthenticatedError('The access token has expired');
      throw new UnauthenticatedError('The access token is invalid');
    }
    if (typeof claims.sub !== 'string' || typeof claims.sid !== 'string') {
      throw new UnauthenticatedError('The access token is invalid');
    }
    // One read: the session is open, and its user (what `me` answers).
    const rows = await em.getConnection().execute<UserRow[]>(
      `select u.id, u.nickname, u.avatar_url, u.created_at from session s join "user" u on u.id = s.user_id
        where s.id = ? and s.user_id = ? and s.revoked_at is null and s.expires_at > ?`,
      [claims.sid, claims.sub, new Date()],
    );
    const row = rows[0];
    if (!row) throw new UnauthenticatedError('The session has ended: sign in again');
    return { userId: claims.sub, sessionId: claims.sid, user: userSummaryFromRow(row) };
  }

  async revoke(em: EntityManager, sessionId: string, reason: string): Promise<void> {
    await em.nativeUpdate(
      Session,
      { id: sessionId, revokedAt: null },
      { revokedAt: new Date(), revokedReason: reason },
    );
  }

  private async accessToken(userId: string, sessionId: string, now: Date) {
    const issuedAt = Math.floor(now.getTime() / 1000);
    const expiresAtSeconds = issuedAt + this.settings.accessTokenTtlSeconds;
    const accessToken = await new SignJWT({ sid: sessionId })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(userId)
      .setIssuer(ISSUER)
      .setAudience(ISSUER)
      .setIssuedAt(issuedAt)
      .setExpirationTime(expiresAtSeconds)
      .sign(this.key);
    return { accessToken, expiresAt: new Date(expiresAtSeconds * 1000) };
  }
}
