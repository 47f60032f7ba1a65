import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { deriveKey } from '../crypto/keys.js';
import { UnauthenticatedError } from '../errors.js';

const ISSUER = 'wechat-login-server';

/** What an access token says: the user (`sub`) and the session (`sid`). */
export interface AccessClaims {
  userId: string;
  sessionId: string;
}

/** Short-lived JWT access tokens (HS256, key derived from AUTH_SECRET). */
export class AccessTokens {
  private readonly key: Uint8Array;

  constructor(
    authSecret: string,
    private readonly ttlSeconds: number,
  ) {
    this.key = deriveKey(authSecret, 'access-token');
  }

  async sign(claims: AccessClaims, now: Date): Promise<{ accessToken: string; expiresAt: Date }> {
    const issuedAt = Math.floor(now.getTime() / 1000);
    const expiresAtSeconds = issuedAt + this.ttlSeconds;
    const accessToken = await new SignJWT({ sid: claims.sessionId })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(claims.userId)
      .setIssuer(ISSUER)
      .setAudience(ISSUER)
      .setIssuedAt(issuedAt)
      .setExpirationTime(expiresAtSeconds)
      .sign(this.key);
    return { accessToken, expiresAt: new Date(expiresAtSeconds * 1000) };
  }

  /** The claims of a token this server signed and that has not expired; UNAUTHENTICATED otherwise. */
  async verify(token: string): Promise<AccessClaims> {
    let claims: { sub?: string; sid?: unknown };
    try {
      ({ payload: claims } = await jwtVerify(token, this.key, {
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
    return { userId: claims.sub, sessionId: claims.sid };
  }
}
