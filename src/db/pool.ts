import type { EntityManager } from '@mikro-orm/postgresql';
import type { PoolStats } from '../metrics/metrics.js';

/**
 * The one module that reaches under MikroORM to its connection pool (knex's, in MikroORM 6): a
 * `pg` client borrowed for statements run without the ORM (sql.ts's execute, housekeeping's
 * locked pass), the pool's counts for metrics, the rate limiter's store, and whether statements go
 * named on this ORM's connections. A MikroORM release that replaces knex changes this file alone.
 */

/** A `pg` client as the pool lends it: a query with text, values and, to prepare it, a name. */
export interface PoolClient {
  query(config: {
    name?: string;
    text: string;
    values: unknown[];
  }): Promise<{ rows: unknown[]; rowCount: number | null }>;
}

/** The parts of knex this module uses: its client's pool and its query event. */
interface Knex {
  client: {
    acquireConnection(): Promise<PoolClient>;
    releaseConnection(connection: PoolClient): Promise<unknown>;
    pool?: { numUsed(): number; numFree(): number; numPendingAcquires(): number };
  };
  listenerCount(event: 'query'): number;
  emit(event: 'query', query: { sql: string; bindings: unknown[] }): boolean;
}

const knexOf = (em: EntityManager) => em.getConnection().getKnex() as unknown as Knex;

/**
 * Borrows a client of the ORM's pool for `use` (the same pool and limits as the ORM's own
 * queries), and gives it back however `use` ends. Outside any ORM transaction.
 */
export async function withClient<T>(em: EntityManager, use: (client: PoolClient) => Promise<T>): Promise<T> {
  const { client } = knexOf(em);
  const connection = await client.acquireConnection();
  try {
    return await use(connection);
  } finally {
    await client.releaseConnection(connection);
  }
}

/** The pool's counts now; undefined when there is no pool to read. */
export function poolStats(em: EntityManager): PoolStats | undefined {
  const { pool } = knexOf(em).client;
  return pool
    ? { used: pool.numUsed(), free: pool.numFree(), pendingAcquires: pool.numPendingAcquires() }
    : undefined;
}

/**
 * What rate-limiter-flexible's PostgreSQL store takes to share the ORM's pool (its knex store in
 * MikroORM 6; its `pg` pool store once knex is gone).
 */
export function rateLimitStore(em: EntityManager): { storeClient: unknown; storeType: 'knex' } {
  return { storeClient: em.getConnection().getKnex(), storeType: 'knex' };
}

/** Tells whoever listens to the ORM's queries (tests counting statements) of one run beside it. */
export function reportStatement(em: EntityManager, text: string): void {
  const knex = knexOf(em);
  if (knex.listenerCount('query') > 0) knex.emit('query', { sql: text, bindings: [] });
}

/** ORM connections (by their knex instance) whose statements go unnamed (DATABASE_NAMED_STATEMENTS=off). */
const unnamed = new WeakSet<object>();

/**
 * Whether statements run beside the ORM are named (prepared once per connection) on this ORM's
 * connections: on by default; off for a pooler that cannot track named statements (PgBouncer
 * before 1.21 in transaction mode).
 */
export function nameStatements(em: EntityManager, named: boolean): void {
  const knex = knexOf(em);
  if (named) unnamed.delete(knex);
  else unnamed.add(knex);
}

export function namesStatements(em: EntityManager): boolean {
  return !unnamed.has(knexOf(em));
}
