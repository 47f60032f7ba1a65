import { UnauthenticatedError } from '../errors.js';
import type { SigningKeys } from '../keys/signing-keys.js';
import { encodedHeader, signAccessToken, TokenRejected, verifyAccessToken } from './jwt.js';

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

/**
 * Short-lived ES256 JWT access tokens with `kid`, signed with the current signing key (src/sessions/jwt.ts).
 * Any service verifies them with our JWKS alone (docs/integration.md); this server looks the key up by kid.
 */
export class AccessTokens {
  /** The current key's encoded header, made once per key. */
  private header = { kid: '', encoded: '' };

  constructor(
    private readonly keys: SigningKeys,
    private readonly settings: AccessTokensSettings,
  ) {}

  async sign(claims: AccessClaims, now: Date): Promise<{ accessToken: string; expiresAt: Date }> {
    const { kid, key } = await this.keys.signingKey();
    if (this.header.kid !== kid) this.header = { kid, encoded: encodedHeader(kid) };
    const iat = Math.floor(now.getTime() / 1000);
    const exp = iat + this.settings.ttlSeconds;
    const accessToken = signAccessToken(
      this.header.encoded,
      {
        sid: claims.sessionId,
        sub: claims.userId,
        iss: this.settings.issuer,
        aud: this.settings.audience,
        iat,
        exp,
      },
      key,
    );
    return { accessToken, expiresAt: new Date(exp * 1000) };
  }

  /** The claims of a token this server signed and that has not expired; UNAUTHENTICATED otherwise. */
  async verify(token: string): Promise<AccessClaims> {
    try {
      const { sub, sid } = await verifyAccessToken(token, {
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        now: Math.floor(Date.now() / 1000),
        keyFor: (kid) => this.keys.verificationKey(kid),
      });
      return { userId: sub, sessionId: sid };
    } catch (error) {
      // Only a refusal is the client's doing; anything else is a fault of ours, not a bad token.
      if (!(error instanceof TokenRejected)) throw error;
      throw new UnauthenticatedError(
        error.reason === 'expired' ? 'The access token has expired' : 'The access token is invalid',
      );
    }
  }
}
