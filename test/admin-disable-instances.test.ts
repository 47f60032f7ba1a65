import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { sha256 } from '../src/crypto/keys.js';
import type { Client } from './support/client.js';
import { errorCode } from './support/graphql.js';
import { clientsOf, startInstances, type Instances } from './support/instances.js';
import { sqlAt, type Sql } from './support/sql.js';

/**
 * A disable on one server process while the same person logs in and refreshes on both, as behind
 * a load balancer: no login slips through after the disable commits (every session any of them
 * opened is ended, and each answer is a session or USER_DISABLED).
 */
let instances: Instances | undefined;
let clients: Client[];
let sql: Sql;
const key = `adm_${randomBytes(32).toString('base64url')}`;

beforeAll(async () => {
  instances = await startInstances({
    PUBLIC_URL: 'https://login.example.com',
    RATE_LIMIT: 'off',
    LOG_LEVEL: 'warn',
  });
  clients = clientsOf(instances);
  sql = sqlAt(instances.db.url);
  // A write key, stored as `npm run admin -- keys:create` stores it.
  await sql(
    "insert into admin_key (id, name, scope, key_hash, created_at) values (gen_random_uuid(), 'race', 'write', ?, now())",
    [sha256(key)],
  );
}, 120_000);
afterAll(async () => {
  await instances?.stop();
});

async function disable(server: number, id: string) {
  const response = await fetch(`${instances!.servers[server]!.url}/admin/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({
      query: 'mutation ($id: ID!) { disableUser(id: $id, reason: "race") { id } }',
      variables: { id },
    }),
  });
  return (await response.json()) as { errors?: unknown[] };
}

describe('disableUser on two instances', () => {
  it('during logins and refreshes on both: every session opened is ended, every later call refused', async () => {
    const gotIn: number[] = [];
    for (const round of [1, 2, 3, 4, 5]) {
      const person = `race-${round}`;
      const first = await clients[0]!.loginAs('mini', person);
      const refreshTokens = [first.refreshToken, (await clients[1]!.loginAs('web', person)).refreshToken];
      // Returning logins (one statement each) of every kind, refreshes, and the disable, all at once.
      const logins = Array.from({ length: 12 }, (_, i) =>
        clients[i % 2]!.login((['mini', 'web', 'app'] as const)[i % 3]!, person),
      );
      const refreshes = refreshTokens.map((token, i) => clients[i % 2]!.refresh(token));
      const [disabled, ...answers] = await Promise.all([
        disable(round % 2, first.user.id),
        ...logins,
        ...refreshes,
      ]);
      expect(disabled.errors).toBeUndefined();

      let signedIn = 0;
      const tokens: string[] = [];
      for (const answer of answers) {
        if (answer.errors) {
          expect(errorCode(answer)).toBe('USER_DISABLED');
          continue;
        }
        signedIn++;
        const data = answer.data as Record<string, { accessToken: string }>;
        tokens.push(Object.values(data)[0]!.accessToken);
      }
      // Whatever got in before the disable committed has been ended by it, on both instances.
      for (const [i, token] of tokens.entries()) {
        expect(errorCode(await clients[i % 2]!.me(token))).toBe('USER_DISABLED');
      }
      const [open] = await sql<{ n: number }>(
        'select count(*)::int as n from session where user_id = ? and revoked_at is null',
        [first.user.id],
      );
      expect(open!.n).toBe(0);
      // And after it, nothing gets in.
      for (const kind of ['mini', 'web', 'app'] as const) {
        expect(errorCode(await clients[round % 2]!.login(kind, person))).toBe('USER_DISABLED');
      }
      gotIn.push(signedIn);
    }
    process.stderr.write(
      `disable race: of 14 logins and refreshes each round, ${gotIn.join(', ')} got in first\n`,
    );
  });
});
