import type { EntityManager } from '@mikro-orm/postgresql';

/** A raw SQL statement with `:name` parameters, parsed once when the module loads. */
export interface Statement<Params extends string, Row> {
  readonly text: string;
  readonly names: readonly Params[];
  /** Type only: the shape of one row the statement returns. */
  readonly row?: Row;
}

/**
 * Raw SQL with named parameters, for the few statements the ORM can't express as one round trip
 * (the login fast path, refresh rotation). `:name` is a parameter and may repeat; `::type` casts
 * are left alone. The statement is rewritten to positional `?` once, at module load.
 */
export function sql<Params extends string, Row = never>(text: string): Statement<Params, Row> {
  const names: Params[] = [];
  const positional = text.replace(/(?<![:\w]):([A-Za-z_]\w*)/g, (_match, name: Params) => {
    names.push(name);
    return '?';
  });
  return { text: positional, names };
}

/**
 * Runs a statement with its parameters by name, inside the entity manager's transaction when it
 * has one. Returns the rows as PostgreSQL gives them (snake_case columns).
 */
export function execute<Params extends string, Row>(
  em: EntityManager,
  statement: Statement<Params, Row>,
  params: Readonly<Record<Params, unknown>>,
): Promise<Row[]> {
  const values = statement.names.map((name) => {
    if (!(name in params)) throw new Error(`SQL parameter :${name} has no value`);
    return params[name];
  });
  return em.getConnection().execute<Row[]>(statement.text, values, 'all', em.getTransactionContext());
}
