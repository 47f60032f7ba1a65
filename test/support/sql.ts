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
