import { sign, verify, type KeyObject } from 'node:crypto';
import { ALGORITHM } from '../keys/key-pair.js';

/**
 * Our access tokens as JWS compact serialisation (RFC 7515/7519), ES256 only, with Node's own
 * crypto: a synchronous signature over the exact bytes, no WebCrypto job and promise per token
 * (a third of the CPU of signing through jose). Any JOSE library verifies these tokens with our
 * JWKS (docs/integration.md); here we verify only tokens shaped exactly as we sign them.
 */

/** What an access token carries: who (`sub`), which session (`sid`), for whom, until when. */
export interface AccessTokenClaims {
  sub: string;
  sid: string;
  iss: string;
  aud: string;
  iat: number;
  exp: number;
}

/** Why a token was refused: its time is up, or it is not one of ours at all. */
export class TokenRejected extends Error {
  constructor(readonly reason: 'expired' | 'invalid') {
    super(reason === 'expired' ? 'token expired' : 'token invalid');
  }
}

const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** The order n of P-256, and n / 2 (rounded down) as the 32 big-endian bytes `s` is compared with. */
const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const HALF_ORDER = Buffer.from((P256_ORDER >> 1n).toString(16).padStart(64, '0'), 'hex');

/**
 * An ECDSA signature (r, s) and (r, n − s) verify alike: each token would have two encodings. We
 * sign with the low one (s ≤ n/2, as Bitcoin's BIP 62 and libsecp256k1 do) and accept only that,
 * so a token has exactly one valid signature. Takes and returns IEEE P1363 (r ‖ s, 64 bytes).
 */
export function lowS(signature: Buffer): Buffer {
  const s = signature.subarray(32);
  if (Buffer.compare(s, HALF_ORDER) <= 0) return signature;
  const low = P256_ORDER - BigInt(`0x${s.toString('hex')}`);
  return Buffer.concat([signature.subarray(0, 32), Buffer.from(low.toString(16).padStart(64, '0'), 'hex')]);
}

/** True when the P1363 signature's s is at most n/2: the one encoding we sign and accept. */
export function isLowS(signature: Buffer): boolean {
  return Buffer.compare(signature.subarray(32), HALF_ORDER) <= 0;
}

/** The encoded protected header of a key's tokens: the same for every token it signs. */
export function encodedHeader(kid: string): string {
  return encode({ alg: ALGORITHM, typ: 'JWT', kid });
}

/** Signs claims with an EC P-256 private key under a header from encodedHeader. */
export function signAccessToken(header: string, claims: AccessTokenClaims, key: KeyObject): string {
  const input = `${header}.${encode(claims)}`;
  const signature = lowS(sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }));
  return `${input}.${signature.toString('base64url')}`;
}

/** A JSON object from a base64url segment, or undefined. */
function decodeObject(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

export interface VerifyOptions {
  issuer: string;
  audience: string;
  /** Seconds since the epoch. */
  now: number;
  /** The public key of a kid we publish, or undefined. */
  keyFor(kid: string): KeyObject | undefined | Promise<KeyObject | undefined>;
}

/**
 * The claims of a token signed by one of our keys, for us, unexpired. Strict where our tokens are
 * fixed: header `{alg: ES256, typ: JWT, kid}` and nothing else (no `crit`, no other algorithm,
 * no embedded key), a 64-byte low-S signature in canonical base64url, `exp` present, `iss` and `aud`
 * equal to ours (an `aud` array must contain ours), `nbf` honoured when present, `sub` and `sid`
 * strings. Throws TokenRejected.
 */
export async function verifyAccessToken(
  token: string,
  options: VerifyOptions,
): Promise<Pick<AccessTokenClaims, 'sub' | 'sid'>> {
  const parts = token.split('.');
  if (parts.length !== 3) throw new TokenRejected('invalid');
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = decodeObject(headerPart);
  if (
    !header ||
    Object.keys(header).length !== 3 ||
    header.alg !== ALGORITHM ||
    header.typ !== 'JWT' ||
    typeof header.kid !== 'string'
  ) {
    throw new TokenRejected('invalid');
  }
  const key = await options.keyFor(header.kid);
  if (!key) throw new TokenRejected('invalid');
  const signature = Buffer.from(signaturePart, 'base64url');
  if (signature.length !== 64 || signature.toString('base64url') !== signaturePart || !isLowS(signature)) {
    throw new TokenRejected('invalid');
  }
  const input = Buffer.from(`${headerPart}.${payloadPart}`);
  if (!verify('sha256', input, { key, dsaEncoding: 'ieee-p1363' }, signature)) {
    throw new TokenRejected('invalid');
  }
  const claims = decodeObject(payloadPart);
  if (!claims) throw new TokenRejected('invalid');
  const { sub, sid, iss, aud, iat, exp, nbf } = claims;
  const forUs = aud === options.audience || (Array.isArray(aud) && aud.includes(options.audience));
  if (
    iss !== options.issuer ||
    !forUs ||
    typeof sub !== 'string' ||
    typeof sid !== 'string' ||
    typeof exp !== 'number' ||
    (iat !== undefined && typeof iat !== 'number') ||
    (nbf !== undefined && (typeof nbf !== 'number' || nbf > options.now))
  ) {
    throw new TokenRejected('invalid');
  }
  if (exp <= options.now) throw new TokenRejected('expired');
  return { sub, sid };
}
