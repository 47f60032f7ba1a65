import { importJWK, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { SecretBox } from '../../src/crypto/secret-box.js';
import { lowS } from '../../src/sessions/jwt.js';

/** The current signing key's row (the one signing now): what a test needs to sign tokens as the server would. */
export const CURRENT_SIGNING_KEY = `select kid, private_key from signing_key
  where created_at <= now() and (retired_at is null or retired_at > now())`;

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

/**
 * An ES256 token with exactly these claims, signed with a real key (low-S, as the server signs):
 * for expired or foreign tokens.
 */
export async function signToken(key: TestSigningKey, claims: JWTPayload): Promise<string> {
  return withLowS(await signAnyS(key, claims));
}

/** The same, with the signature jose made: high-S about half the time. */
export function signAnyS({ kid, key }: TestSigningKey, claims: JWTPayload): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid }).sign(key);
}

/** The token with its signature's low-S form. */
export function withLowS(token: string): string {
  const [input, signature] = [
    token.slice(0, token.lastIndexOf('.')),
    token.slice(token.lastIndexOf('.') + 1),
  ];
  return `${input}.${lowS(Buffer.from(signature, 'base64url')).toString('base64url')}`;
}

/** The token with its signature's high-S twin (s replaced by n − s): the same signature, re-encoded. */
export function withHighS(token: string): string {
  const dot = token.lastIndexOf('.');
  const signature = lowS(Buffer.from(token.slice(dot + 1), 'base64url'));
  const n = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
  const s = n - BigInt(`0x${signature.subarray(32).toString('hex')}`);
  const high = Buffer.concat([
    signature.subarray(0, 32),
    Buffer.from(s.toString(16).padStart(64, '0'), 'hex'),
  ]);
  return `${token.slice(0, dot)}.${high.toString('base64url')}`;
}
