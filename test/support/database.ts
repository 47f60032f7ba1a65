import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../src/db/embedded.js';

export interface TestDatabase {
  /** `postgresql://…` of a fresh, empty database of this test file's own. */
  readonly url: string;
  /** Connections a server on it may open: 1 for the embedded database. */
  readonly poolMax: number;
  /** Makes the database unreachable for everyone connected to it (health tests). */
  kill(): Promise<void>;
  /** Drops it (or closes the embedded one); safe to call twice. */
  drop(): Promise<void>;
}

/**
 * A fresh database per test file: created in, and dropped from, the server of TEST_DATABASE_URL
 * when that is set; an in-memory embedded PostgreSQL otherwise (a copy of one with the migrations
 * applied, unless `empty`).
 */
export async function createTestDatabase(
  options: {
    /** Without any migration applied, on the embedded database too (the migrations' own tests). */
    empty?: boolean;
  } = {},
): Promise<TestDatabase> {
  const adminUrl = process.env.TEST_DATABASE_URL;
  if (!adminUrl) {
    // A copy of the migrated database made once per run (test/setup/embedded-template.ts).
    const template = options.empty ? undefined : process.env.EMBEDDED_TEST_TEMPLATE;
    const loadDataDir = template ? new Blob([await readFile(template)]) : undefined;
    const embedded = await startEmbeddedPostgres('memory://', { loadDataDir });
    return { url: embedded.url, poolMax: 1, kill: () => embedded.close(), drop: () => embedded.close() };
  }
  const name = `wechat_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`create database "${name}"`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let dropped = false;
  const drop = async () => {
    if (dropped) return;
    dropped = true;
    await admin(`drop database if exists "${name}" with (force)`);
  };
  return { url: url.toString(), poolMax: 10, kill: drop, drop };
}
