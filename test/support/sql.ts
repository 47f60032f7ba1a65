import pg from 'pg';
import type { TestServer } from './server.js';

/** A statement with `?` placeholders and its values; the rows it returns. */
export type Sql = <R extends object = Record<string, unknown>>(
  text: string,
  values?: unknown[],
) => Promise<R[]>;

/**
 * The one place tests reach a test server's database: statements on the server's own connection
 * pool (the ORM's connection, `?` placeholders), seeing exactly what the server sees.
 */
export function sqlOf(t: TestServer): Sql {
  return (text, values = []) => t.server.database.orm.em.getConnection().execute(text, values);
}

/**
 * Statements on the database at `url`, as server processes of their own share it (test/support/
 * instances.ts): one connection per statement, `?` placeholders as sqlOf takes them.
 */
export function sqlAt(url: string): Sql {
  return async <R extends object>(text: string, values: unknown[] = []) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      let n = 0;
      const { rows } = await client.query(
        text.replace(/\?/g, () => `$${++n}`),
        values,
      );
      return rows as R[];
    } finally {
      await client.end();
    }
  };
}
