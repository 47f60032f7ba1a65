import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Client } from './support/client.js';
import { clientsOf, startInstances, type Instances } from './support/instances.js';
import { errorCode } from './support/graphql.js';

/** Two server processes on one PostgreSQL and one emulator, as behind a load balancer. */
let clients: Client[] = [];

let instances: Instances | undefined;

beforeAll(async () => {
  // The embedded database takes one connection per process here (plus one for this test's count).
  instances = await startInstances({
    // One issuer for both, as behind a load balancer: each accepts the other's access tokens.
    PUBLIC_URL: 'https://login.example.com',
    RATE_LIMIT_IDENTITY_PER_MINUTE: '1000',
    REFRESH_REUSE_GRACE_SECONDS: '1',
    LOG_LEVEL: 'warn',
  });
  clients = clientsOf(instances);
}, 120_000);

afterAll(async () => {
  await instances?.stop();
});

describe('two instances on one database', () => {
  it('make exactly one user of 50 concurrent first logins of one person', async () => {
    const kinds = ['mini', 'app'] as const;
    // loginAs expects each answer without errors.
    const payloads = await Promise.all(
      Array.from({ length: 50 }, (_, i) => clients[Math.floor(i / 2) % 2]!.loginAs(kinds[i % 2]!, 'mia')),
    );
    expect(new Set(payloads.map((p) => p.user.id)).size).toBe(1);
    expect(payloads.filter((p) => p.isNewUser)).toHaveLength(1);

    const rows = await clients[0]!.sql<{ users: string; methods: string }>(
      `select (select count(*) from "user") as users, (select count(*) from user_login_method) as methods`,
    );
    expect(rows[0]).toEqual({ users: '1', methods: '2' });
  });

  it('accept an access token issued by one instance on the other', async () => {
    const [a, b] = clients as [Client, Client];
    const login = await a.loginAs('mini', 'pia');
    const body = await b.me(login.accessToken);
    expect(body.data?.me?.id).toBe(login.user.id);
  });

  it('accept a web state minted by one instance on the other, once', async () => {
    const [a, b] = clients as [Client, Client];
    const minted = await a.run('WechatWebAuthorizeUrl', { redirectUri: 'https://a.example/cb' });
    const state = minted.data!.wechatWebAuthorizeUrl.state;
    const first = await b.login('web', 'noa', { state });
    expect(first.errors).toBeUndefined();
    const again = await a.login('web', 'noa', { state });
    expect(errorCode(again)).toBe('INVALID_STATE');
  });

  it('refresh one token on both at once (both succeed), then revoke its late reuse on either', async () => {
    const [a, b] = clients as [Client, Client];
    const login = await a.loginAs('mini', 'ola');
    const both = await Promise.all([a, b].map((client) => client.refresh(login.refreshToken)));
    for (const answer of both) expect(answer.errors).toBeUndefined();
    // Past the grace window (1 s here), the old token is a stolen one: the session ends everywhere.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const stale = await b.refresh(login.refreshToken);
    expect(errorCode(stale)).toBe('UNAUTHENTICATED');
    const rotated = both[0]!.data!.refreshSession;
    expect(errorCode(await a.refresh(rotated.refreshToken))).toBe('UNAUTHENTICATED');
  });
});
