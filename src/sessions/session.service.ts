import { randomBytes, randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sha256 } from '../crypto/keys.js';
import { BadUserInputError, UnauthenticatedError, UserDisabledError } from '../errors.js';
import { UUID } from '../db/base.entity.js';
import type { User } from '../identity/user.entity.js';
import type { UserSummary } from '../identity/user.repository.js';
import type { RateLimiter } from '../rate-limits/rate-limiter.js';
import type { AccessTokens } from './access-tokens.js';
import { LoginRepository, type SessionRows } from './login.repository.js';
import { sessionDevice, type RequestClient } from './session-device.js';
import { SessionRepository, type SessionRow } from './session.repository.js';

export interface IssuedTokens {
  /** The session the tokens are of (the access token's `sid`). */
  sessionId: string;
  accessToken: string;
  refreshToken: string;
  /** When the access token expires. */
  expiresAt: Date;
}

/** A session about to be written, with the refresh token itself (only its hash is stored). */
export interface NewSession extends SessionRows {
  refreshToken: string;
}

/** The caller of a request with a valid access token whose session is still open. */
export interface Authenticated {
  userId: string;
  sessionId: string;
  user: UserSummary;
}

export interface SessionServiceDeps {
  accessTokens: AccessTokens;
  rateLimiter: RateLimiter;
  refreshTokenTtlSeconds: number;
  /** A rotated refresh token presented again within this many seconds gets fresh tokens. */
  refreshReuseGraceSeconds: number;
}

/** Refresh tokens are ours (`rt_` + 43 characters); anything much longer is not one. */
const MAX_REFRESH_TOKEN_LENGTH = 256;

const refreshFailed = () =>
  new UnauthenticatedError('The refresh token is invalid, expired or revoked: sign in again');

/** An opaque refresh token (256 random bits) and the hash that is all we store of it. */
function newRefreshToken(): { refreshToken: string; tokenHash: string } {
  const refreshToken = `rt_${randomBytes(32).toString('base64url')}`;
  return { refreshToken, tokenHash: sha256(refreshToken) };
}

/**
 * Our own sessions: a short-lived access token (subject = user id, `sid` = session id) and an
 * opaque refresh token stored only as a hash, rotated on every use. A rotated one presented again
 * within REFRESH_REUSE_GRACE_SECONDS gets fresh tokens (a retry after a lost answer, two tabs);
 * later, it revokes the whole session (the token was stolen, or the client is confused: either
 * way, sign in again).
 */
export class SessionService {
  constructor(private readonly deps: SessionServiceDeps) {}

  /** Opens a session for the user on the client's device, inside the caller's transaction. */
  async create(
    em: EntityManager,
    user: User,
    client: RequestClient,
    now = new Date(),
  ): Promise<IssuedTokens> {
    const prepared = this.prepare(now, client);
    LoginRepository.openSession(em, user, prepared, now);
    return this.issue(user.id, prepared, now);
  }

  /**
   * A new session's ids, refresh token and device (what it keeps of the client that opens it), for
   * the one-statement logins (LoginRepository).
   */
  prepare(now: Date, client: RequestClient): NewSession {
    return {
      sessionId: randomUUID(),
      ...newRefreshToken(),
      expiresAt: new Date(now.getTime() + this.deps.refreshTokenTtlSeconds * 1000),
      device: sessionDevice(client),
    };
  }

  /** Tokens for a session written with prepare(). */
  async issue(userId: string, session: NewSession, now: Date): Promise<IssuedTokens> {
    return {
      sessionId: session.sessionId,
      ...(await this.deps.accessTokens.sign({ userId, sessionId: session.sessionId }, now)),
      refreshToken: session.refreshToken,
    };
  }

  /**
   * Rotates a refresh token (one statement; limited per client IP), recording the session's use by
   * this client. When nothing matched, a second statement tells an unknown token from a rotated
   * one presented again after the grace window, and revokes the session in that case.
   */
  async refresh(
    em: EntityManager,
    presented: string,
    client: RequestClient,
  ): Promise<IssuedTokens & { user: UserSummary; otherAccountExists: boolean }> {
    const hash = await this.admitRefreshToken(em, presented, client.ip);
    const now = new Date();
    const { refreshToken, tokenHash } = newRefreshToken();
    const graceStart = new Date(now.getTime() - this.deps.refreshReuseGraceSeconds * 1000);
    const device = sessionDevice(client);
    const rotated = await SessionRepository.rotate(em, hash, tokenHash, device, now, graceStart);
    if (!rotated) {
      if (await SessionRepository.disabledByToken(em, hash)) throw new UserDisabledError();
      await SessionRepository.revokeOnReuse(em, hash, now, client);
      throw refreshFailed();
    }
    const { user, sessionId, otherAccountExists } = rotated;
    const access = await this.deps.accessTokens.sign({ userId: user.id, sessionId }, now);
    return { sessionId, ...access, refreshToken, user, otherAccountExists };
  }

  /**
   * Checks an access token and that its session is still open. `undefined` header: anonymous
   * (null); anything else that does not check out: UNAUTHENTICATED.
   */
  async authenticate(em: EntityManager, authorization: string | undefined): Promise<Authenticated | null> {
    if (authorization === undefined || authorization === '') return null;
    const match = /^Bearer ([A-Za-z0-9_\-.]+)$/.exec(authorization.trim());
    if (!match) throw new UnauthenticatedError('The Authorization header must be "Bearer <accessToken>"');
    const { userId, sessionId } = await this.deps.accessTokens.verify(match[1]!);
    const user = await SessionRepository.openSessionUser(em, sessionId, userId, new Date());
    if (user === 'disabled') throw new UserDisabledError();
    if (!user) throw new UnauthenticatedError('The session has ended: sign in again');
    return { userId, sessionId, user };
  }

  /**
   * Logout with the refresh token alone (a client whose access token has expired): ends the
   * session the token belongs to, whether it is the current token or one already rotated. Ending
   * an ended session again succeeds; an unknown token is UNAUTHENTICATED. Limited per client IP,
   * like refresh.
   */
  async revokeByRefreshToken(em: EntityManager, presented: string, client: RequestClient): Promise<void> {
    const hash = await this.admitRefreshToken(em, presented, client.ip);
    const known = await SessionRepository.revokeByRefreshToken(em, hash, new Date(), client);
    if (!known) throw new UnauthenticatedError('The refresh token is invalid');
  }

  /**
   * What refresh and logout check before looking a refresh token up: its length (ours never
   * exceed MAX_REFRESH_TOKEN_LENGTH) and the client IP's refresh budget. Returns the token's hash.
   */
  private async admitRefreshToken(em: EntityManager, presented: string, clientIp: string): Promise<string> {
    if (presented.length === 0 || presented.length > MAX_REFRESH_TOKEN_LENGTH) throw refreshFailed();
    await this.deps.rateLimiter.ip('refresh', clientIp);
    return sha256(presented);
  }

  /** The user's live sessions (not revoked, not expired), most recently used first. */
  list(em: EntityManager, userId: string): Promise<SessionRow[]> {
    return SessionRepository.liveSessions(em, userId, new Date());
  }

  /**
   * Ends one of the user's own live sessions (its tokens stop working at once), the current one
   * included. Any other id (another user's, unknown, ended) is BAD_USER_INPUT, the same answer
   * for each, as unlinkLoginMethod answers a login method that is not the account's.
   */
  async revokeOwn(
    em: EntityManager,
    userId: string,
    sessionId: string,
    client: RequestClient,
  ): Promise<void> {
    const ended =
      UUID.test(sessionId) &&
      (await SessionRepository.revokeOwn(
        em,
        { id: sessionId, userId, reason: 'revoked_by_user' },
        new Date(),
        client,
      ));
    if (!ended) throw new BadUserInputError('No live session of this account has this id', 'id');
  }

  /** A logout with the access token: its session ends (an ended one again is no error). */
  async logout(em: EntityManager, auth: Authenticated, client: RequestClient): Promise<void> {
    await SessionRepository.revokeOwn(
      em,
      { id: auth.sessionId, userId: auth.userId, reason: 'logout' },
      new Date(),
      client,
    );
  }
}
