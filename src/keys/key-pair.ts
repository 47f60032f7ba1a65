import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { PublicJwk } from './signing-key.entity.js';

/** The one algorithm our access tokens are signed with. */
export const ALGORITHM = 'ES256';

/** A new ES256 key: its kid, the public JWK to publish and the private JWK to seal. */
export interface NewKeyPair {
  kid: string;
  publicJwk: PublicJwk;
  /** Contains `d`: seal it before it goes anywhere. */
  privateJwk: JWK;
}

/** Generates an ES256 key pair; its kid is the JWK thumbprint (RFC 7638) of the public key. */
export async function generateSigningKeyPair(): Promise<NewKeyPair> {
  const { privateKey } = await generateKeyPair(ALGORITHM, { extractable: true });
  const privateJwk = await exportJWK(privateKey);
  const publicJwk: PublicJwk = { kty: 'EC', crv: 'P-256', x: privateJwk.x!, y: privateJwk.y! };
  return { kid: await calculateJwkThumbprint(publicJwk), publicJwk, privateJwk };
}

/** The public key as Node's KeyObject, imported once and reused for every verification. */
export function importPublicKey(jwk: PublicJwk): KeyObject {
  return createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }, format: 'jwk' });
}

/** The private key as Node's KeyObject, imported once and reused for every signature. */
export function importPrivateKey(jwk: JWK): KeyObject {
  return createPrivateKey({
    key: { kty: 'EC', crv: 'P-256', x: jwk.x!, y: jwk.y!, d: jwk.d! },
    format: 'jwk',
  });
}
