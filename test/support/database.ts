import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { openDatabase, type Database } from '../../src/db/database.js';
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

/** One fresh database opened by two handles (two instances of the server) and a plain client to look. */
export interface TwoHandles {
  db: TestDatabase;
  first: Database;
  second: Database;
  /** A statement through the plain client ($1… placeholders); its rows. */
  q<R extends Record<string, unknown>>(text: string, values?: unknown[]): Promise<R[]>;
  /** Closes the client and both handles, then drops the database. */
  close(): Promise<void>;
}

/** A fresh database (migrated by the first handle), two handles of `poolMax` connections each and a client. */
export async function openTwoHandles(poolMax: number): Promise<TwoHandles> {
  const db = await createTestDatabase();
  const first = await openDatabase({ url: db.url, embeddedDir: '', migrateOnStart: true, poolMax });
  const second = await openDatabase({ url: db.url, embeddedDir: '', migrateOnStart: false, poolMax });
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  return {
    db,
    first,
    second,
    q: async <R extends Record<string, unknown>>(text: string, values: unknown[] = []) =>
      (await client.query<R>(text, values)).rows,
    async close() {
      await client.end();
      await first.close();
      await second.close();
      await db.drop();
    },
  };
}
