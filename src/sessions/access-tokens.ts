import { errors as joseErrors, jwtVerify, SignJWT, type CryptoKey, type JWTHeaderParameters } from 'jose';
import { UnauthenticatedError } from '../errors.js';
import { ALGORITHM } from '../keys/key-pair.js';
import type { SigningKeys } from '../keys/signing-keys.js';

/** What an access token says: the user (`sub`) and the session (`sid`). */
export interface AccessClaims {
  userId: string;
  sessionId: string;
}

export interface AccessTokensSettings {
  /** `iss`: PUBLIC_URL. */
  issuer: string;
  /** `aud`: TOKEN_AUDIENCE. */
  audience: string;
  ttlSeconds: number;
}

/** A key lookup failure inside jwtVerify: the token names a kid we do not publish. */
class UnknownKid extends Error {}

/**
 * Short-lived ES256 JWT access tokens with `kid`, signed with the current signing key. Any service
 * verifies them with our JWKS alone (docs/integration.md); this server looks the key up by kid.
 */
export class AccessTokens {
  constructor(
    private readonly keys: SigningKeys,
    private readonly settings: AccessTokensSettings,
  ) {}

  async sign(claims: AccessClaims, now: Date): Promise<{ accessToken: string; expiresAt: Date }> {
    const { kid, key } = await this.keys.signingKey();
    const issuedAt = Math.floor(now.getTime() / 1000);
    const expiresAtSeconds = issuedAt + this.settings.ttlSeconds;
    const accessToken = await new SignJWT({ sid: claims.sessionId })
      .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT', kid })
      .setSubject(claims.userId)
      .setIssuer(this.settings.issuer)
      .setAudience(this.settings.audience)
      .setIssuedAt(issuedAt)
      .setExpirationTime(expiresAtSeconds)
      .sign(key);
    return { accessToken, expiresAt: new Date(expiresAtSeconds * 1000) };
  }

  /** The claims of a token this server signed and that has not expired; UNAUTHENTICATED otherwise. */
  async verify(token: string): Promise<AccessClaims> {
    let claims: { sub?: string; sid?: unknown };
    try {
      ({ payload: claims } = await jwtVerify(token, (header) => this.key(header), {
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        algorithms: [ALGORITHM],
        typ: 'JWT',
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

  private async key(header: JWTHeaderParameters): Promise<CryptoKey> {
    const key = header.alg === ALGORITHM ? await this.keys.verificationKey(header.kid) : undefined;
    if (!key) throw new UnknownKid();
    return key;
  }
}
