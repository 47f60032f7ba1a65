import { it } from '@jest/globals';

/**
 * True when the tests run on a PostgreSQL server (TEST_DATABASE_URL), false on the embedded one.
 * The embedded database is one PostgreSQL session that its clients take turns at: everything a
 * client sees is as on a server, except what only several sessions can show (an advisory lock
 * held by one and refused to another, two transactions at once).
 */
export const onPostgresServer = Boolean(process.env.TEST_DATABASE_URL);

/** The words the skip reporter (test/setup/skip-reporter.mjs) looks for in a skipped test's name. */
export const NEEDS_SERVER = 'needs TEST_DATABASE_URL';

/**
 * `it`, for a test that only a PostgreSQL server can run (`why`: what the embedded database's one
 * session cannot show). On the embedded database it is skipped with the reason in its name, which
 * the reporter prints; CI runs the suite on a server too, where it runs.
 */
export function itOnServer(why: string): typeof it {
  if (onPostgresServer) return it;
  const skipped = (name: string, fn: Parameters<typeof it>[1], timeout?: number) =>
    it.skip(`${name} [${NEEDS_SERVER}: ${why}]`, fn, timeout);
  return skipped as typeof it;
}
