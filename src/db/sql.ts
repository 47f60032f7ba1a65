import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { namesStatements, reportStatement, withClient } from './pool.js';

/** A raw SQL statement with `:name` parameters, parsed once when the module loads. */
export interface Statement<Params extends string, Row> {
  /** With `?` placeholders, for the ORM's connection (knex numbers them). */
  readonly text: string;
  /** With `$1…$n` placeholders, for the driver itself. */
  readonly numbered: string;
  /**
   * The name of the server-side prepared statement: PostgreSQL parses and plans it once per
   * connection, not on every call. Derived from the text, so one text is one name everywhere.
   */
  readonly preparedName: string;
  readonly names: readonly Params[];
  /**
   * Planned on every call, with its values (never prepared by name): for a statement of optional
   * filters (`:x is null or …`), whose one generic plan would serve no filter's index.
   */
  readonly customPlan: boolean;
  /** Type only: the shape of one row the statement returns. */
  readonly row?: Row;
}

/**
 * Raw SQL with named parameters, for the statements the ORM can't express as one round trip
 * (the login fast paths, refresh rotation, locks). `:name` is a parameter and may repeat; `::type`
 * casts are left alone. The statement is rewritten to positional parameters once, at module load.
 */
export function sql<Params extends string, Row = never>(
  text: string,
  options: { customPlan?: boolean } = {},
): Statement<Params, Row> {
  const names: Params[] = [];
  const positional = text.replace(/(?<![:\w]):([A-Za-z_]\w*)/g, (_match, name: Params) => {
    names.push(name);
    return '?';
  });
  let n = 0;
  const numbered = positional.replace(/\?/g, () => `$${++n}`);
  const preparedName = `q_${createHash('sha256').update(numbered).digest('hex').slice(0, 24)}`;
  return { text: positional, numbered, preparedName, names, customPlan: options.customPlan ?? false };
}

/** The parameters of a statement, in its order. */
export function valuesOf<Params extends string>(
  statement: Statement<Params, unknown>,
  params: Readonly<Record<Params, unknown>>,
): unknown[] {
  return statement.names.map((name) => {
    if (!(name in params)) throw new Error(`SQL parameter :${name} has no value`);
    return params[name];
  });
}

/** What a `pg` client (or pool) offers: a query with text, values and, to prepare it, a name. */
export interface PgQueryable {
  query(config: { name?: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>;
}

/**
 * Runs a statement on a `pg` client or pool: as a named prepared statement (parsed and planned
 * once per connection), or unnamed (parsed and planned on every call) when `named` is false.
 */
export async function runPrepared<Params extends string, Row>(
  client: PgQueryable,
  statement: Statement<Params, Row>,
  params: Readonly<Record<Params, unknown>>,
  named = true,
): Promise<Row[]> {
  const values = valuesOf(statement, params);
  const result = await client.query({
    ...(named && { name: statement.preparedName }),
    text: statement.numbered,
    values,
  });
  return result.rows as Row[];
}

/**
 * Runs a statement with its parameters by name. Returns the rows as PostgreSQL gives them
 * (snake_case columns).
 *
 * Inside a transaction of the entity manager it goes through the ORM's connection of that
 * transaction. Outside one (the hot paths: logins, refresh, `me`) it borrows a connection from
 * the ORM's own pool and runs the statement there, named (see nameStatements), without the
 * ORM's and knex's per-query work (formatting values into the text, query objects, events):
 * the same pool, the same limits, and a driver error converted as the ORM converts it
 * (UniqueConstraintViolationException…). Each such statement is atomic on its own.
 */
export async function execute<Params extends string, Row>(
  em: EntityManager,
  statement: Statement<Params, Row>,
  params: Readonly<Record<Params, unknown>>,
): Promise<Row[]> {
  const connection = em.getConnection();
  const transaction = em.getTransactionContext();
  if (transaction) {
    return connection.execute<Row[]>(statement.text, valuesOf(statement, params), 'all', transaction);
  }
  return withClient(em, async (client) => {
    // Seen by whoever listens to the ORM's queries (tests counting statements).
    reportStatement(em, statement.text);
    try {
      return await runPrepared(client, statement, params, namesStatements(em) && !statement.customPlan);
    } catch (error) {
      throw error instanceof Error && 'code' in error ? em.getDriver().convertException(error) : error;
    }
  });
}

/**
 * The row of a statement that always returns exactly one (an aggregate, an upsert … returning):
 * throws when it returns none or more, so a row count is in the type, not in a `!`.
 */
export async function one<Params extends string, Row>(
  em: EntityManager,
  statement: Statement<Params, Row>,
  params: Readonly<Record<Params, unknown>>,
): Promise<Row> {
  const rows = await execute(em, statement, params);
  if (rows.length !== 1) throw new Error(`expected one row, got ${rows.length} (${statement.preparedName})`);
  return rows[0]!;
}

/** The row of a statement that returns at most one (a lookup by key), or undefined. */
export async function maybeOne<Params extends string, Row>(
  em: EntityManager,
  statement: Statement<Params, Row>,
  params: Readonly<Record<Params, unknown>>,
): Promise<Row | undefined> {
  const rows = await execute(em, statement, params);
  if (rows.length > 1)
    throw new Error(`expected at most one row, got ${rows.length} (${statement.preparedName})`);
  return rows[0];
}

/** A timestamp column of a raw statement's row (PostgreSQL's text) as a Date. */
export const dateOf = (em: EntityManager, text: string) => em.getPlatform().parseDate(text) as Date;
