import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { deriveKey } from './keys.js';

/**
 * AES-256-GCM for secrets kept at rest (signing keys, WeChat access tokens, mini program session
 * keys), with a key derived from AUTH_SECRET. Format `v1.<iv>.<tag>.<ciphertext>` (base64url), so
 * a future key can be told apart. Values are always sealed with AUTH_SECRET; those sealed with an
 * earlier secret (AUTH_SECRET_PREVIOUS) still open, so the secret can change without losing them.
 */
export class SecretBox {
  /** AUTH_SECRET's key first (it seals), then the previous secrets' keys (they only open). */
  private readonly keys: Buffer[];

  constructor(authSecret: string, previousSecrets: readonly string[] = []) {
    this.keys = [authSecret, ...previousSecrets].map((secret) => deriveKey(secret, 'at-rest-v1'));
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keys[0]!, iv);
    const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return ['v1', iv, cipher.getAuthTag(), data]
      .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
      .join('.');
  }

  /** Throws when the value was sealed with none of the secrets, or was tampered with. */
  open(sealed: string): string {
    return this.openWith(sealed).plain;
  }

  /**
   * The value and which secret opened it: 0 for AUTH_SECRET, 1 for the first previous one, and so
   * on. Throws like open().
   */
  openWith(sealed: string): { plain: string; secret: number } {
    const [version, iv, tag, data] = sealed.split('.');
    if (version !== 'v1' || !iv || !tag || data === undefined) throw new Error('not a sealed v1 value');
    // Decoded once, tried with each secret.
    const ivBytes = Buffer.from(iv, 'base64url');
    const tagBytes = Buffer.from(tag, 'base64url');
    const dataBytes = Buffer.from(data, 'base64url');
    for (const [secret, key] of this.keys.entries()) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, ivBytes);
        decipher.setAuthTag(tagBytes);
        const plain = Buffer.concat([decipher.update(dataBytes), decipher.final()]);
        return { plain: plain.toString('utf8'), secret };
      } catch {
        // Not this secret's: try the next.
      }
    }
    throw new Error('sealed with another secret, or tampered with');
  }
}
