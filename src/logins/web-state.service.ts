import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { ConfiguredApp } from '../config.js';
import { deriveKey, sha256 } from '../crypto/keys.js';
import { maybeOne, sql } from '../db/sql.js';
import { AppError } from '../errors.js';
import { WebLoginState } from './web-login-state.entity.js';

/** Records a state's nonce as used; a row back only when it was not used before. */
export const SPEND_STATE = sql<'nonce' | 'expiresAt' | 'usedAt', { nonce: string }>(`
insert into web_login_state (nonce, expires_at, used_at) values (:nonce, :expiresAt, :usedAt)
on conflict (nonce) do nothing returning nonce`);

export class InvalidStateError extends AppError {
  constructor(reason: string) {
    super('INVALID_STATE', `Invalid login state: ${reason}. Start the login again.`);
  }
}

export interface WebStateSettings {
  authSecret: string;
  /** Earlier secrets (AUTH_SECRET_PREVIOUS): states they signed still check, nothing new uses them. */
  authSecretPrevious?: readonly string[];
  ttlSeconds: number;
}

/** The variable that holds an app's redirect allowlist, for messages. */
const ALLOWLIST_VARIABLE: Partial<Record<ConfiguredApp['kind'], string>> = {
  web: 'WECHAT_WEB_REDIRECT_URIS',
  official: 'WECHAT_OA_REDIRECT_URIS',
};

/** A 64-bit tag of a value, in hex: enough to bind the state to it under the MAC. */
const tag = (value: string) => createHash('sha256').update(value).digest('hex').slice(0, 16);

const VERSION = 'S3';
const NO_CHALLENGE = '0'.repeat(16);
/** Fixed-width fields, so the state needs no separators: WeChat allows only a-zA-Z0-9 (at most 128). */
const LAYOUT = /^S3([0-9a-f]{32})([0-9a-z]{7})([0-9a-f]{16})([0-9a-f]{16})([0-9a-f]{16})([0-9a-f]{32})$/;

/** What a state is bound to besides its redirect URI: the app (kind and appid) it was made for. */
const appTag = (app: ConfiguredApp) => tag(`${app.kind}\n${app.appId}`);

/**
 * The `state` of a login that comes back through a redirect (website QR login, official account
 * pages; login CSRF protection), 121 characters of `a-zA-Z0-9`: `S3` + nonce + expiry + tag of the
 * app + tag of the redirect URI + tag of the PKCE codeChallenge (zeros without one) + an HMAC of all
 * that with a key derived from AUTH_SECRET. A state made for one app (or kind) is refused by the
 * login of another. Any instance checks it without
 * memory of its own; recording its nonce in the database when it is used makes it valid once. A
 * state minted with a codeChallenge is accepted only with the codeVerifier that answers to it, and a
 * state minted without one is refused to a login that brings a verifier: either way a login link
 * someone else started cannot finish in this browser's login.
 */
export class WebStateService {
  /** AUTH_SECRET's key first (it signs), then the previous secrets' (they only check). */
  private readonly keys: Buffer[];

  constructor(private readonly settings: WebStateSettings) {
    this.keys = [settings.authSecret, ...(settings.authSecretPrevious ?? [])].map((secret) =>
      deriveKey(secret, 'web-state'),
    );
  }

  /** Throws INVALID_STATE for a redirect URI not on the app's allowlist. */
  checkRedirectUri(app: ConfiguredApp, redirectUri: string): void {
    if (!URL.canParse(redirectUri) || !/^https?:$/.test(new URL(redirectUri).protocol)) {
      throw new InvalidStateError('redirectUri must be an absolute http(s) URL');
    }
    const allowed = app.redirectUris;
    if (allowed && !allowed.includes(redirectUri)) {
      const variable = ALLOWLIST_VARIABLE[app.kind] ?? 'WECHAT_APPS';
      throw new InvalidStateError(
        `redirectUri is not allowed for this app (${variable}, or its redirectUris in WECHAT_APPS)`,
      );
    }
  }

  issue(app: ConfiguredApp, redirectUri: string, codeChallenge?: string | null, now = Date.now()): string {
    this.checkRedirectUri(app, redirectUri);
    const expiry = (Math.floor(now / 1000) + this.settings.ttlSeconds).toString(36).padStart(7, '0');
    const challenge = codeChallenge == null ? NO_CHALLENGE : tag(codeChallenge);
    const nonce = randomBytes(16).toString('hex');
    const body = `${VERSION}${nonce}${expiry}${appTag(app)}${tag(redirectUri)}${challenge}`;
    return body + this.sign(body);
  }

  /**
   * Checks signature, expiry, the app, the redirect URI (when given) and the PKCE verifier, then
   * marks the state used in its own statement, before WeChat is called: a state is spent even if
   * the login then fails.
   */
  async consume(
    em: EntityManager,
    state: string,
    check: { app: ConfiguredApp; redirectUri?: string | null; codeVerifier?: string | null },
    now = Date.now(),
  ): Promise<void> {
    const spend = this.verify(state, check, now);
    const row = await maybeOne(em, SPEND_STATE, spend);
    if (!row) throw new InvalidStateError('it has already been used');
    // Now and then, forget states that would be expired anyway.
    if (Math.random() < 0.01) await em.nativeDelete(WebLoginState, { expiresAt: { $lt: new Date(now) } });
  }

  /**
   * Everything consume() checks but the spending: the nonce to record (SPEND_STATE's parameters),
   * or INVALID_STATE.
   */
  verify(
    state: string,
    check: { app: ConfiguredApp; redirectUri?: string | null; codeVerifier?: string | null },
    now = Date.now(),
  ): { nonce: string; expiresAt: Date; usedAt: Date } {
    const fields = LAYOUT.exec(state);
    if (!fields) throw new InvalidStateError('not a state this server issued');
    const [, nonce, expiryField, stateAppTag, redirectTag, challengeTag, mac] = fields as unknown as string[];
    const given = Buffer.from(mac!, 'utf8');
    const body = state.slice(0, -32);
    const signed = this.keys.some((key) => timingSafeEqual(given, Buffer.from(this.sign(body, key), 'utf8')));
    if (!signed) throw new InvalidStateError('not a state this server issued');
    const expiry = parseInt(expiryField!, 36) * 1000;
    if (now >= expiry) throw new InvalidStateError('it has expired');
    const { app, redirectUri, codeVerifier } = check;
    if (appTag(app) !== stateAppTag) throw new InvalidStateError('it was issued for another app');
    if (redirectUri != null && tag(redirectUri) !== redirectTag) {
      throw new InvalidStateError('it was issued for another redirectUri');
    }
    if (redirectUri != null) this.checkRedirectUri(app, redirectUri);
    if (challengeTag === NO_CHALLENGE && codeVerifier != null) {
      throw new InvalidStateError('it was issued without a codeChallenge, so no codeVerifier can match it');
    }
    if (challengeTag !== NO_CHALLENGE && codeVerifier == null) {
      throw new InvalidStateError('it was issued with a codeChallenge: send its codeVerifier');
    }
    // PKCE's S256: the challenge is base64url(SHA-256(verifier)), which is what sha256() gives.
    if (codeVerifier != null && tag(sha256(codeVerifier)) !== challengeTag) {
      throw new InvalidStateError('the codeVerifier does not match its codeChallenge');
    }
    return { nonce: nonce!, expiresAt: new Date(expiry), usedAt: new Date(now) };
  }

  /** 128 bits of HMAC-SHA256, in hex. */
  private sign(body: string, key = this.keys[0]!): string {
    return createHmac('sha256', key).update(body).digest('hex').slice(0, 32);
  }
}
