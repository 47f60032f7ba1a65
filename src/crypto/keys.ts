import { createHash, createHmac } from 'node:crypto';

/** What a key derived from AUTH_SECRET is for: each purpose gets its own key. */
export type KeyPurpose = 'web-state' | 'at-rest-v1' | 'oidc-cookies' | 'oidc-wechat';

/** A 32-byte key for one purpose, derived from AUTH_SECRET (HMAC-SHA256 over a purpose label). */
export function deriveKey(authSecret: string, purpose: KeyPurpose): Buffer {
  return createHmac('sha256', authSecret).update(`wechat-login-server/${purpose}`).digest();
}

/** SHA-256 of a string, base64url: what we store of refresh tokens, and how we key in-flight logins. */
export function sha256(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('base64url');
}
