import {
  createHmac,
  createPublicKey,
  sign,
  verify,
  type KeyObject,
  KeyObject as NodeKeyObject,
} from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import pg from 'pg';
import {
  CURRENT_SIGNING_KEY,
  openSigningKey,
  signAnyS,
  signToken,
  withHighS,
  type TestSigningKey,
} from './support/signing-keys.js';
import { isLowS, lowS } from '../src/sessions/jwt.js';
import { clientOf, type Client, type Session } from './support/client.js';
import { AUTH_SECRET, startWorld, type World } from './support/world.js';

/**
 * Access tokens are signed and verified with Node's crypto (src/sessions/jwt.ts), not a JOSE
 * library: what we sign must verify anywhere with our JWKS, what a JOSE library signs with our key
 * must verify here, and everything that is not exactly one of our tokens is refused.
 */
const ISSUER = 'https://login.example.com';
const AUDIENCE = 'https://api.example.com';
const TTL = 600;

let w: World;
let c: Client;
let login: Session;
let kid: string;
/** The current signing key, for jose (testKey) and for Node's crypto (privateKey). */
let testKey: TestSigningKey;
let privateKey: KeyObject;

beforeAll(async () => {
  w = await startWorld({
    env: {
      RATE_LIMIT: 'off',
      PUBLIC_URL: ISSUER,
      TOKEN_AUDIENCE: AUDIENCE,
      ACCESS_TOKEN_TTL_SECONDS: String(TTL),
    },
  });
  c = clientOf(w);
  login = await c.loginAs('mini', 'tess');
  const client = new pg.Client({ connectionString: w.t.db.url });
  await client.connect();
  const { rows } = await client.query<{ kid: string; private_key: string }>(CURRENT_SIGNING_KEY);
  await client.end();
  testKey = await openSigningKey(rows[0]!, AUTH_SECRET);
  kid = testKey.kid;
  privateKey = NodeKeyObject.from(testKey.key);
});
afterAll(async () => {
  await w?.stop();
});

const b64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** A token with exactly this header and payload, signed ES256 (low-S) with our current key by the test itself. */
function craft(header: unknown, payload: unknown, key = privateKey): string {
  const input = `${b64(header)}.${b64(payload)}`;
  const signature = lowS(sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }));
  return `${input}.${signature.toString('base64url')}`;
}

/**
 * The same 64 bytes spelled otherwise: the last of 86 base64url characters carries 2 unused bits,
 * flipped here (decoders ignore them; a canonical check does not).
 */
function respelled(signature: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = alphabet.indexOf(signature.at(-1)!);
  const other = signature.slice(0, -1) + alphabet[last ^ 1];
  expect(Buffer.from(other, 'base64url').equals(Buffer.from(signature, 'base64url'))).toBe(true);
  return other;
}

/** What `me` answers with this token: the user id, or `CODE: message`. */
async function me(token: string): Promise<string> {
  const body = await w.gql<{ me: { id: string } | null }>(
    '{ me { id } }',
    {},
    { authorization: `Bearer ${token}` },
  );
  if (body.data?.me) return body.data.me.id;
  return `${String(body.errors?.[0]?.extensions?.code)}: ${body.errors?.[0]?.message}`;
}

const INVALID = 'UNAUTHENTICATED: The access token is invalid';

const publicKeyOf = (key: KeyObject): KeyObject => createPublicKey(key);

describe('access tokens', () => {
  it('are ES256 JWTs that a JOSE library verifies with our JWKS alone', async () => {
    const jwks = (await (await fetch(`${w.t.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
    const { payload, protectedHeader } = await jwtVerify(login.accessToken, createLocalJWKSet(jwks), {
      issuer: ISSUER,
      audience: AUDIENCE,
      algorithms: ['ES256'],
      typ: 'JWT',
    });
    expect(protectedHeader).toEqual({ alg: 'ES256', typ: 'JWT', kid });
    expect(payload).toEqual({
      sub: login.user.id,
      sid: expect.any(String),
      iss: ISSUER,
      aud: AUDIENCE,
      iat: expect.any(Number),
      exp: payload.iat! + TTL,
    });
    expect(new Date(login.expiresAt).getTime()).toBe(payload.exp! * 1000);
    expect(await me(login.accessToken)).toBe(login.user.id);
  });

  it('accept a token a JOSE library signed with our key, and an audience list that names us', async () => {
    const { sub, sid } = decodeJwt(login.accessToken);
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub, sid, iss: ISSUER, iat: now, exp: now + 60 };
    expect(await me(await signToken(testKey, { ...claims, aud: AUDIENCE }))).toBe(login.user.id);
    expect(await me(await signToken(testKey, { ...claims, aud: ['https://other.example', AUDIENCE] }))).toBe(
      login.user.id,
    );
  });

  it('are signed low-S, and the high-S twin of a valid signature is refused', async () => {
    // Forty logins: with s uniform, each is high-S half the time unless normalised.
    const signatures: Buffer[] = [];
    for (let i = 0; i < 40; i += 1) {
      const body = await c.login('mini', `tess-${i}`);
      signatures.push(Buffer.from(body.data!.wechatMiniLogin.accessToken.split('.')[2]!, 'base64url'));
    }
    expect(signatures.filter((signature) => !isLowS(signature))).toEqual([]);

    // The same signature re-encoded with s' = n − s verifies mathematically (Node's crypto says
    // so) and is refused here; jose's own high-S output, when it makes one, too.
    const twin = withHighS(login.accessToken);
    const [head, body] = twin.split('.') as [string, string];
    const twinSignature = Buffer.from(twin.split('.')[2]!, 'base64url');
    expect(twin).not.toBe(login.accessToken);
    expect(isLowS(twinSignature)).toBe(false);
    expect(
      verify(
        'sha256',
        Buffer.from(`${head}.${body}`),
        { key: publicKeyOf(privateKey), dsaEncoding: 'ieee-p1363' },
        twinSignature,
      ),
    ).toBe(true);
    expect(await me(twin)).toBe(INVALID);
    expect(await me(login.accessToken)).toBe(login.user.id);

    const { sub, sid } = decodeJwt(login.accessToken);
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub, sid, iss: ISSUER, aud: AUDIENCE, iat: now, exp: now + 60 };
    const fromJose = await signAnyS(testKey, claims);
    const joseSignature = Buffer.from(fromJose.split('.')[2]!, 'base64url');
    expect(await me(fromJose)).toBe(isLowS(joseSignature) ? login.user.id : INVALID);
    expect(await me(withHighS(fromJose))).toBe(INVALID);
  });

  it('refuse anything that is not exactly one of ours, and say when one has expired', async () => {
    const [head, body, signature] = login.accessToken.split('.') as [string, string, string];
    const header = decodeProtectedHeader(login.accessToken);
    const claims = decodeJwt(login.accessToken);
    const now = Math.floor(Date.now() / 1000);
    const good = { ...claims, iat: now, exp: now + 60 };
    expect(await me(craft(header, good))).toBe(login.user.id);

    const { exp: _exp, ...noExp } = good;
    const hmacInput = `${b64({ alg: 'HS256', typ: 'JWT', kid })}.${b64(good)}`;
    const jwks = (await (await fetch(`${w.t.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
    const publicJwk = JSON.stringify(jwks.keys[0]);
    const refused: Record<string, string> = {
      'payload swapped under the signature': `${head}.${b64({ ...claims, sub: 'someone-else' })}.${signature}`,
      'signature changed': `${head}.${body}.${signature.endsWith('AA') ? signature.slice(0, -2) + 'BB' : signature.slice(0, -2) + 'AA'}`,
      'signature with a character more': `${head}.${body}.${signature}A`,
      'signature in a non-canonical spelling (same bytes)': `${head}.${body}.${respelled(signature)}`,
      'signature cut short': `${head}.${body}.${signature.slice(0, -4)}`,
      'no signature': `${head}.${body}.`,
      'alg none': `${b64({ alg: 'none', typ: 'JWT' })}.${body}.`,
      'HS256 keyed with our public key': `${hmacInput}.${createHmac('sha256', publicJwk).update(hmacInput).digest('base64url')}`,
      'another typ': craft({ ...header, typ: 'at+jwt' }, good),
      'a lower-case typ': craft({ ...header, typ: 'jwt' }, good),
      'a crit header': craft({ ...header, crit: ['exp'] }, good),
      'an embedded key': craft({ ...header, jwk: jwks.keys[0] }, good),
      'an unknown kid': craft({ ...header, kid: 'A'.repeat(43) }, good),
      'no kid': craft({ alg: 'ES256', typ: 'JWT' }, good),
      'no exp': craft(header, noExp),
      'a string exp': craft(header, { ...good, exp: String(now + 60) }),
      'a string iat': craft(header, { ...good, iat: String(now) }),
      'nbf in the future': craft(header, { ...good, nbf: now + 120 }),
      'another issuer': craft(header, { ...good, iss: 'https://evil.example' }),
      'another audience': craft(header, { ...good, aud: 'https://elsewhere.example' }),
      'no audience': craft(header, { ...good, aud: undefined }),
      'a number sub': craft(header, { ...good, sub: 42 }),
      'no sid': craft(header, { ...good, sid: undefined }),
      'a payload that is not JSON': craft(header, 'not json'),
      'a payload that is an array': craft(header, [good]),
      'two segments': `${head}.${body}`,
      'four segments': `${login.accessToken}.${signature}`,
    };
    for (const [name, token] of Object.entries(refused)) {
      expect(`${name}: ${await me(token)}`).toBe(`${name}: ${INVALID}`);
    }
    const expired = 'UNAUTHENTICATED: The access token has expired';
    expect(await me(craft(header, { ...good, iat: now - TTL - 1, exp: now - 1 }))).toBe(expired);
    // exp is the first second it is no longer valid; nbf the first one it is.
    expect(await me(craft(header, { ...good, iat: now - TTL, exp: now }))).toBe(expired);
    expect(await me(craft(header, { ...good, nbf: now }))).toBe(login.user.id);
  });
});
