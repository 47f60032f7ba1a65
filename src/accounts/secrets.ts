import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';

/** A 32-byte key for one purpose, derived from AUTH_SECRET, so no two uses share a key. */
export function deriveKey(authSecret: string, purpose: 'access-token' | 'web-state' | 'at-rest-v1'): Buffer {
  return createHmac('sha256', authSecret).update(`wechat-login-server/${purpose}`).digest();
}

export function sha256(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('base64url');
}

/**
 * AES-256-GCM for secrets kept at rest (mini program session keys, WeChat access tokens).
 * Format `v1.<iv>.<tag>.<ciphertext>` (base64url), so a future key can be told apart.
 */
export class SecretBox {
  private readonly key: Buffer;

  constructor(authSecret: string) {
    this.key = deriveKey(authSecret, 'at-rest-v1');
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return ['v1', iv, cipher.getAuthTag(), data]
      .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
      .join('.');
  }

  /** Throws when the value was not sealed with this key or was tampered with. */
  open(sealed: string): string {
    const [version, iv, tag, data] = sealed.split('.');
    if (version !== 'v1' || !iv || !tag || data === undefined) throw new Error('not a sealed v1 value');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString(
      'utf8',
    );
  }
}
