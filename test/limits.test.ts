import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadConfig } from '../src/config.js';
import { clientKey } from '../src/rate-limits/client-key.js';
import { errorCode } from './support/graphql.js';
import { startTestServer, type TestServer } from './support/server.js';
import { clientOf } from './support/client.js';
import { APPS, startWorld, type World } from './support/world.js';

const REFRESH = 'mutation ($t: String!) { refreshSession(refreshToken: $t) { accessToken } }';

describe('the key a client is counted by', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7'],
    // What a dual-stack socket reports for an IPv4 client.
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['::ffff:cb00:7107', '203.0.113.7'],
    ['2001:db8:1:2::1', '2001:db8:1:2:0:0:0:0/64'],
    ['2001:0db8:0001:0002:ffff:ffff:ffff:ffff', '2001:db8:1:2:0:0:0:0/64'],
    ['2001:DB8:1:2:aaaa::', '2001:db8:1:2:0:0:0:0/64'],
    ['fe80::1%eth0', 'fe80:0:0:0:0:0:0:0/64'],
    ['::1', '0:0:0:0:0:0:0:0/64'],
    ['64:ff9b::192.0.2.33', '64:ff9b:0:0:0:0:0:0/64'],
    ['not an address', 'not an address'],
  ])('%s counts as %s', (ip, key) => {
    expect(clientKey(ip)).toBe(key);
  });

  it('takes the prefix it is given, down to the bit', () => {
    expect(clientKey('2001:db8:1:2::1', 48)).toBe('2001:db8:1:0:0:0:0:0/48');
    expect(clientKey('2001:db8:1:ffff::1', 56)).toBe('2001:db8:1:ff00:0:0:0:0/56');
    expect(clientKey('2001:db8:1:2::1', 128)).toBe('2001:db8:1:2:0:0:0:1/128');
    expect(clientKey('2001:db8:1:2::1', 1)).toBe('0:0:0:0:0:0:0:0/1');
  });

  it.each([['0'], ['129'], ['64.5'], ['/64']])('refuses RATE_LIMIT_IPV6_PREFIX=%s with one line', (value) => {
    expect(() => loadConfig({ RATE_LIMIT_IPV6_PREFIX: value })).toThrow(/^RATE_LIMIT_IPV6_PREFIX: must be/);
  });
});

describe('per-IP limits for IPv6 clients', () => {
  /** Refreshes with an unknown token from `ip` (through one trusted proxy): what each was answered. */
  async function refreshesFrom(t: TestServer, ips: string[]): Promise<unknown[]> {
    const codes = [];
    for (const ip of ips)
      codes.push(errorCode((await t.graphql(REFRESH, { t: 'rt_nope' }, { 'x-forwarded-for': ip })).body));
    return codes;
  }

  it('counts every address of one /64 as one client, and another /64 as another (through TRUST_PROXY)', async () => {
    const t = await startTestServer({ TRUST_PROXY: '127.0.0.1', RATE_LIMIT_IP_PER_MINUTE: '3' });
    try {
      // One host rotating through its /64: the fourth address is refused all the same.
      expect(
        await refreshesFrom(t, [
          '2001:db8:1:2::1',
          '2001:db8:1:2::2',
          '2001:db8:1:2:dead:beef:0:1',
          '2001:db8:1:2::3',
        ]),
      ).toEqual(['UNAUTHENTICATED', 'UNAUTHENTICATED', 'UNAUTHENTICATED', 'RATE_LIMITED']);
      // Its neighbour network and an IPv4 client have budgets of their own.
      expect(await refreshesFrom(t, ['2001:db8:1:3::1', '203.0.113.9'])).toEqual([
        'UNAUTHENTICATED',
        'UNAUTHENTICATED',
      ]);
    } finally {
      await t.stop();
    }
  }, 60_000);

  it('counts by the prefix RATE_LIMIT_IPV6_PREFIX gives', async () => {
    const t = await startTestServer({
      TRUST_PROXY: '127.0.0.1',
      RATE_LIMIT_IP_PER_MINUTE: '2',
      RATE_LIMIT_IPV6_PREFIX: '48',
    });
    try {
      expect(await refreshesFrom(t, ['2001:db8:1:2::1', '2001:db8:1:3::1', '2001:db8:1:ffff::1'])).toEqual([
        'UNAUTHENTICATED',
        'UNAUTHENTICATED',
        'RATE_LIMITED',
      ]);
      expect(await refreshesFrom(t, ['2001:db8:2::1'])).toEqual(['UNAUTHENTICATED']);
    } finally {
      await t.stop();
    }
  }, 60_000);
});

describe('writes per request and per signed-in person', () => {
  let w: World;
  const PROFILE = 'mutation ($input: UpdateProfileInput!) { updateProfile(input: $input) { nickname } }';

  const signIn = async (user: string) => (await clientOf(w).loginAs('mini', user)).accessToken;

  async function nickname(token: string): Promise<unknown> {
    const body = await w.gql<{ me: { nickname: string | null } }>(
      '{ me { nickname } }',
      {},
      { authorization: `Bearer ${token}` },
    );
    return body.data?.me.nickname;
  }

  beforeAll(async () => {
    w = await startWorld({
      env: { RATE_LIMIT_USER_PER_MINUTE: '3', RATE_LIMIT_IDENTITY_PER_MINUTE: '1000' },
    });
  }, 60_000);
  afterAll(async () => {
    await w?.stop();
  });

  it('refuses an operation with more than one mutation field, however it is written, and runs none of it', async () => {
    const token = await signIn('batcher');
    const before = await nickname(token);
    const auth = { authorization: `Bearer ${token}` };
    const aliased = `mutation { ${Array.from({ length: 100 }, (_, i) => `p${i}: updateProfile(input: { nickname: "n${i}" }) { nickname }`).join(' ')} }`;
    const throughFragments = `mutation { ...A ... on Mutation { ...B } }
      fragment A on Mutation { a: updateProfile(input: { nickname: "a" }) { nickname } }
      fragment B on Mutation { b: updateProfile(input: { nickname: "b" }) { nickname } }`;
    const mixed = `mutation ($t: String!) { logout refreshSession(refreshToken: $t) { accessToken } }`;
    for (const [query, variables] of [
      [aliased, {}],
      [throughFragments, {}],
      [mixed, { t: 'rt_nope' }],
    ] as const) {
      const { status, body } = await w.t.graphql(query, variables, auth);
      expect(status).toBe(400);
      expect(body.data).toBeUndefined();
      expect(body.errors).toHaveLength(1);
      expect(body.errors![0]).toMatchObject({
        message: expect.stringMatching(/^A mutation operation may ask for one mutation/),
        extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
      });
    }
    expect(await nickname(token)).toBe(before);

    // One mutation, with __typename beside it, or spread from a fragment: fine.
    const one = await w.gql(
      `mutation { __typename ...P } fragment P on Mutation { updateProfile(input: { nickname: "one" }) { nickname } }`,
      {},
      auth,
    );
    expect(one.errors).toBeUndefined();
    expect(await nickname(token)).toBe('one');
  });

  it('limits changes to one account per minute with RATE_LIMITED and a retry-after hint; other people are not affected', async () => {
    const token = await signIn('busy-editor');
    const auth = { authorization: `Bearer ${token}` };
    const answers = [];
    for (let i = 1; i <= 3; i++)
      answers.push(errorCode(await w.gql(PROFILE, { input: { nickname: `v${i}` } }, auth)));
    expect(answers).toEqual([undefined, undefined, undefined]);

    // The budget is the account's, shared by every change it makes: an unlink is refused too.
    const unlink = await w.gql(
      'mutation ($a: String!, $o: String!) { unlinkLoginMethod(appId: $a, openId: $o) { id } }',
      { a: APPS.mini.appid, o: 'whatever' },
      auth,
    );
    const limited = unlink.errors![0]!;
    expect(limited.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: expect.any(Number) });
    expect(limited.extensions!.retryAfterSeconds as number).toBeGreaterThan(0);
    expect(limited.extensions!.retryAfterSeconds as number).toBeLessThanOrEqual(60);
    expect(errorCode(await w.gql(PROFILE, { input: { nickname: 'v4' } }, auth))).toBe('RATE_LIMITED');
    // Ending a session too (its own, here): refused, so the session stays open.
    const { sid } = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { sid: string };
    const revoke = 'mutation ($id: ID!) { revokeSession(id: $id) }';
    expect(errorCode(await w.gql(revoke, { id: sid }, auth))).toBe('RATE_LIMITED');
    expect(await nickname(token)).toBe('v3');

    const other = await signIn('someone-else');
    const theirs = await w.gql(
      PROFILE,
      { input: { nickname: 'mine' } },
      { authorization: `Bearer ${other}` },
    );
    expect(theirs.errors).toBeUndefined();
  });

  it('counts each of ten concurrent changes: no more than the budget gets through', async () => {
    const token = await signIn('racer');
    const auth = { authorization: `Bearer ${token}` };
    const codes = await Promise.all(
      Array.from({ length: 10 }, async (_, i) =>
        errorCode(await w.gql(PROFILE, { input: { nickname: `r${i}` } }, auth)),
      ),
    );
    expect(codes.filter((c) => c === undefined)).toHaveLength(3);
    expect(codes.filter((c) => c === 'RATE_LIMITED')).toHaveLength(7);
  });
});
