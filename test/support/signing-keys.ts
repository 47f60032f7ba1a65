import { importJWK, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { SecretBox } from '../../src/crypto/secret-box.js';

/** The current signing key's row: what a test needs to sign tokens as the server would. */
export const CURRENT_SIGNING_KEY = `select kid, private_key from signing_key where retired_at is null`;

export interface TestSigningKey {
  kid: string;
  key: CryptoKey;
}

/** Opens a signing key row with the AUTH_SECRET that sealed it (tests own both). */
export async function openSigningKey(
  row: { kid: string; private_key: string },
  authSecret: string,
): Promise<TestSigningKey> {
  const jwk = JSON.parse(new SecretBox(authSecret).open(row.private_key)) as JWK;
  return { kid: row.kid, key: (await importJWK(jwk, 'ES256')) as CryptoKey };
}

/** An ES256 token with exactly these claims, signed with a real key: for expired or foreign tokens. */
export function signToken({ kid, key }: TestSigningKey, claims: JWTPayload): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid }).sign(key);
}
