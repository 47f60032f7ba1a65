import { randomBytes } from 'node:crypto';
import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { UnauthenticatedError } from '../errors.js';
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

export interface Authenticated {
  userId: string;
  sessionId: string;
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
    const session = em.create(Session, {
      user,
      expiresAt: new Date(now.getTime() + this.settings.refreshTokenTtlSeconds * 1000),
      createdAt: now,
      updatedAt: now,
    });
    const refreshToken = this.newRefreshToken(em, session, now);
    return { ...(await this.accessToken(user.id, session.id, now)), refreshToken };
  }

  /** Rotates a refresh token: the old one dies; reuse of a rotated one revokes the session. */
  async refresh(em: EntityManager, presented: string): Promise<IssuedTokens & { userId: string }> {
    const now = new Date();
    const outcome = await em.transactional(async (tx) => {
      const row = await tx.findOne(
        RefreshToken,
        { tokenHash: sha256(presented) },
        { populate: ['session'], lockMode: LockMode.PESSIMISTIC_WRITE },
      );
      if (!row) return { ok: false as const };
      const session = row.session;
      if (session.revokedAt || session.expiresAt <= now) return { ok: false as const };
      if (row.rotatedAt) {
        session.revokedAt = now;
        session.revokedReason = 'refresh_token_reuse';
        return { ok: false as const };
      }
      row.rotatedAt = now;
      const refreshToken = this.newRefreshToken(tx, session, now);
      const userId = (session.user as User).id;
      return { ok: true as const, userId, sessionId: session.id, refreshToken };
    });
    if (!outcome.ok)
      throw new UnauthenticatedError('The refresh token is invalid, expired or revoked: sign in again');
    return {
      ...(await this.accessToken(outcome.userId, outcome.sessionId, now)),
      refreshToken: outcome.refreshToken,
      userId: outcome.userId,
    };
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
    const open = await em.count(Session, {
      id: claims.sid,
      user: claims.sub,
      revokedAt: null,
      expiresAt: { $gt: new Date() },
    });
    if (!open) throw new UnauthenticatedError('The session has ended: sign in again');
    return { userId: claims.sub, sessionId: claims.sid };
  }

  async revoke(em: EntityManager, sessionId: string, reason: string): Promise<void> {
    await em.nativeUpdate(
      Session,
      { id: sessionId, revokedAt: null },
      { revokedAt: new Date(), revokedReason: reason },
    );
  }

  private newRefreshToken(em: EntityManager, session: Session, now: Date): string {
    const token = `rt_${randomBytes(32).toString('base64url')}`;
    em.create(RefreshToken, { tokenHash: sha256(token), session, createdAt: now });
    return token;
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
