import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { deriveKey, sha256 } from '../crypto/keys.js';
import { AppError } from '../errors.js';
import { WebLoginState } from './web-login-state.entity.js';

export class InvalidStateError extends AppError {
  constructor(reason: string) {
    super('INVALID_STATE', `Invalid web login state: ${reason}. Start the login again.`);
  }
}

export interface WebStateSettings {
  authSecret: string;
  ttlSeconds: number;
  /** Allowed redirect URIs; null: any. */
  redirectUris: readonly string[] | null;
}

/**
 * The `state` of a web QR login (CSRF protection): `v1.<nonce>.<expiry>.<redirect hash>.<hmac>`,
 * signed with a key derived from AUTH_SECRET, so any instance can check it without memory of its
 * own; made valid once by recording its nonce in the database when it is used.
 */
export class WebStateService {
  private readonly key: Buffer;

  constructor(private readonly settings: WebStateSettings) {
    this.key = deriveKey(settings.authSecret, 'web-state');
  }

  /** Throws INVALID_STATE for a redirect URI not on the allowlist. */
  checkRedirectUri(redirectUri: string): void {
    if (!URL.canParse(redirectUri) || !/^https?:$/.test(new URL(redirectUri).protocol)) {
      throw new InvalidStateError('redirectUri must be an absolute http(s) URL');
    }
    const allowed = this.settings.redirectUris;
    if (allowed && !allowed.includes(redirectUri)) {
      throw new InvalidStateError('redirectUri is not on WECHAT_WEB_REDIRECT_URIS');
    }
  }

  issue(redirectUri: string, now = Date.now()): string {
    this.checkRedirectUri(redirectUri);
    const expiry = Math.floor(now / 1000) + this.settings.ttlSeconds;
    const body = `v1.${randomBytes(16).toString('base64url')}.${expiry.toString(36)}.${sha256(redirectUri).slice(0, 22)}`;
    return `${body}.${this.sign(body)}`;
  }

  /**
   * Checks signature, expiry and (when given) the redirect URI, then marks the state used in its
   * own short transaction, before WeChat is called: a state is spent even if the login then fails.
   */
  async consume(
    em: EntityManager,
    state: string,
    redirectUri: string | undefined,
    now = Date.now(),
  ): Promise<void> {
    const parts = state.split('.');
    if (parts.length !== 5 || parts[0] !== 'v1')
      throw new InvalidStateError('not a state this server issued');
    const body = parts.slice(0, 4).join('.');
    const given = Buffer.from(parts[4]!, 'utf8');
    const expected = Buffer.from(this.sign(body), 'utf8');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new InvalidStateError('not a state this server issued');
    }
    const expiry = parseInt(parts[2]!, 36) * 1000;
    if (!Number.isFinite(expiry) || now >= expiry) throw new InvalidStateError('it has expired');
    if (redirectUri !== undefined && sha256(redirectUri).slice(0, 22) !== parts[3]) {
      throw new InvalidStateError('it was issued for another redirectUri');
    }
    if (redirectUri !== undefined) this.checkRedirectUri(redirectUri);
    const inserted = await em
      .createQueryBuilder(WebLoginState)
      .insert({ nonce: parts[1]!, expiresAt: new Date(expiry), usedAt: new Date(now) })
      .onConflict('nonce')
      .ignore()
      .execute('run');
    if (inserted.affectedRows !== 1) throw new InvalidStateError('it has already been used');
    // Now and then, forget states that would be expired anyway.
    if (Math.random() < 0.01) await em.nativeDelete(WebLoginState, { expiresAt: { $lt: new Date(now) } });
  }

  private sign(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}
