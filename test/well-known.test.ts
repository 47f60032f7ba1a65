import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { clientOf, type Client } from './support/client.js';
import { startWorld, type World } from './support/world.js';
import { errorCode } from './support/graphql.js';
import { eventually } from './support/eventually.js';

const PUBLIC_URL = 'https://login.example.com';
const AUDIENCE = 'https://api.example.com';

let w: World;
let c: Client;

async function jwks(): Promise<JSONWebKeySet> {
  return (await (await fetch(`${w.t.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
}

beforeAll(async () => {
  w = await startWorld({
    env: { PUBLIC_URL: `${PUBLIC_URL}/`, TOKEN_AUDIENCE: AUDIENCE, SIGNING_KEY_REFRESH_SECONDS: '1' },
  });
  c = clientOf(w);
});
afterAll(async () => {
  await w?.stop();
});

describe('GET /.well-known/jwks.json', () => {
  it('lists the current ES256 public key, cacheable for one refresh interval, and nothing private', async () => {
    const response = await fetch(`${w.t.url}/.well-known/jwks.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    // Cacheable until one refresh interval (SIGNING_KEY_REFRESH_SECONDS=1 here) after its reading.
    expect(response.headers.get('cache-control')).toMatch(/^public, max-age=[01]$/);
    const body = (await response.json()) as JSONWebKeySet;
    expect(body.keys).toEqual([
      {
        kty: 'EC',
        crv: 'P-256',
        x: expect.any(String),
        y: expect.any(String),
        kid: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
        alg: 'ES256',
        use: 'sig',
      },
    ]);
  });
});

describe('GET /.well-known/openid-configuration', () => {
  it('names the issuer (PUBLIC_URL without its trailing slash) and the JWKS URL', async () => {
    const response = await fetch(`${w.t.url}/.well-known/openid-configuration`);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toMatch(/^public, max-age=\d+$/);
    expect(await response.json()).toEqual({
      issuer: PUBLIC_URL,
      jwks_uri: `${PUBLIC_URL}/.well-known/jwks.json`,
    });
  });
});

describe('access tokens', () => {
  it('are ES256 JWTs with the kid of a published key and iss, aud, sub, sid, iat, exp', async () => {
    const payload = await c.loginAs('mini', 'ava');
    const header = decodeProtectedHeader(payload.accessToken);
    const { keys } = await jwks();
    expect(header).toEqual({ alg: 'ES256', typ: 'JWT', kid: keys[0]!.kid });
    const claims = decodeJwt(payload.accessToken);
    expect(Object.keys(claims).sort()).toEqual(['aud', 'exp', 'iat', 'iss', 'sid', 'sub']);
    expect(claims).toMatchObject({ iss: PUBLIC_URL, aud: AUDIENCE, sub: payload.user.id });
    expect(claims.exp! - claims.iat!).toBe(900);
    expect(new Date(claims.exp! * 1000).toISOString()).toBe(payload.expiresAt);
    // Verifiable with the JWKS alone, as another service would.
    const verified = await jwtVerify(payload.accessToken, createLocalJWKSet({ keys }), {
      issuer: PUBLIC_URL,
      audience: AUDIENCE,
      algorithms: ['ES256'],
    });
    expect(verified.payload.sid).toBe(claims.sid);
  });

  it('are refused with an unknown kid, or with alg none', async () => {
    const { accessToken } = await c.loginAs('mini', 'bea');
    const [, payload, signature] = accessToken.split('.');
    const header = (h: object) => Buffer.from(JSON.stringify(h)).toString('base64url');
    const ME = '{ me { id } }';
    const unknownKid = `${header({ alg: 'ES256', typ: 'JWT', kid: 'A'.repeat(43) })}.${payload}.${signature}`;
    const none = `${header({ alg: 'none', typ: 'JWT' })}.${payload}.`;
    for (const token of [unknownKid, none]) {
      expect(errorCode(await w.gql(ME, {}, { authorization: `Bearer ${token}` }))).toBe('UNAUTHENTICATED');
    }
    expect(
      (await w.gql<{ me: { id: string } }>(ME, {}, { authorization: `Bearer ${accessToken}` })).data?.me,
    ).toBeTruthy();
  });
});

describe('signing key rotation on one instance', () => {
  it('publishes the next key before it signs, signs with it after that, then drops the retired one after its window', async () => {
    const before = await c.loginAs('mini', 'cai');
    const [old] = (await jwks()).keys;
    const [{ at }] = (await c.sql<{ at: number }>(
      `update signing_key set created_at = now() - interval '31 days' returning extract(epoch from now())::float8 as at`,
    )) as [{ at: number }];

    // Published first, listed after the current key…
    await eventually(async () => {
      expect((await jwks()).keys.map((k) => k.kid)).toHaveLength(2);
    }, 10_000);
    const seen = Date.now() / 1000;
    const published = (await jwks()).keys.map((k) => k.kid);
    expect(published[0]).toBe(old!.kid);
    const next = published[1]!;
    // …to sign three refresh intervals (SIGNING_KEY_REFRESH_SECONDS=1 here) after it was made, so
    // every cached JWKS has it by then; the old key retires at that same moment.
    const [row] = await c.sql<{ begins: number; retires: number }>(
      `select extract(epoch from created_at)::float8 as begins,
        (select extract(epoch from retired_at)::float8 from signing_key where kid = '${old!.kid}') as retires
       from signing_key where kid = '${next}'`,
    );
    expect(row!.begins).toBeGreaterThanOrEqual(at + 3);
    expect(row!.begins).toBeLessThanOrEqual(seen + 3 + 1);
    expect(row!.retires).toBe(row!.begins);
    // Until then the old key signs (held back here, so the check does not race the clock).
    await c.sql(`update signing_key set created_at = now() + interval '1 hour' where kid = '${next}'`);
    await c.sql(`update signing_key set retired_at = now() + interval '1 hour' where kid = '${old!.kid}'`);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(decodeProtectedHeader((await c.loginAs('mini', 'cai')).accessToken).kid).toBe(old!.kid);
    expect((await jwks()).keys.map((k) => k.kid)).toEqual([old!.kid, next]);
    await c.sql(`update signing_key set created_at = now(), retired_at = null where kid = '${next}'`);
    await c.sql(`update signing_key set retired_at = now() where kid = '${old!.kid}'`);

    // Then it signs, and is listed first.
    await eventually(async () => {
      expect((await jwks()).keys.map((k) => k.kid)).toEqual([next, old!.kid]);
    }, 10_000);
    const after = await c.loginAs('mini', 'cai');
    expect(decodeProtectedHeader(after.accessToken).kid).toBe(next);
    const keys = (await jwks()).keys;
    // The old key's token still works here while its key is published.
    const ME = '{ me { id } }';
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    expect((await w.gql<{ me: { id: string } }>(ME, {}, bearer(before.accessToken))).data?.me).toBeTruthy();

    // Past its window (the token lifetime after the last moment any instance could sign with it).
    await c.sql(`update signing_key set retired_at = now() - interval '1 day' where kid = '${old!.kid}'`);
    await eventually(async () => {
      expect((await jwks()).keys.map((k) => k.kid)).toEqual([keys[0]!.kid]);
    }, 10_000);
    expect(errorCode(await w.gql(ME, {}, bearer(before.accessToken)))).toBe('UNAUTHENTICATED');
    expect((await w.gql<{ me: { id: string } }>(ME, {}, bearer(after.accessToken))).data?.me).toBeTruthy();
  });
});
