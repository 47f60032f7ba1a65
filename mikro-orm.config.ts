import { defineConfig, type Options } from '@mikro-orm/postgresql';
import { entities } from './src/db/entities.js';
import { migrationsList } from './src/db/migrations/index.js';

export interface OrmSettings {
  /** `postgresql://…` of the server, real or the embedded PGlite socket. */
  clientUrl: string;
  /** Connection pool size; exactly 1 for the embedded database. */
  poolMax: number;
  /** A connection unused this long is closed (default 30, knex's). */
  poolIdleSeconds?: number;
  /** Receives the ORM's progress messages (migrator); silent when omitted. */
  log?: (message: string) => void;
  /** Receives the driver's warnings (lost connections); silent when omitted. */
  warn?: (message: string) => void;
}

/**
 * The one MikroORM configuration, for the server, the migration commands and the tests.
 * Entities and migrations are listed explicitly: no folder scanning, the same in `src/` (tests) and `dist/`.
 */
export function createOrmConfig({ clientUrl, poolMax, poolIdleSeconds, log, warn }: OrmSettings): Options {
  const report = (message: unknown) => warn?.(String(message));
  return defineConfig({
    clientUrl,
    entities,
    pool: { min: 0, max: poolMax, idleTimeoutMillis: (poolIdleSeconds ?? 30) * 1000 },
    discovery: { warnWhenNoEntities: true },
    allowGlobalContext: false,
    forceUtcTimezone: true,
    debug: false,
    logger: log ?? (() => {}),
    // knex would print these to the console; they go to our logger instead.
    driverOptions: { log: { warn: report, error: report, deprecate: report, debug: () => {} } },
    migrations: {
      tableName: 'mikro_orm_migrations',
      migrationsList,
      path: 'src/db/migrations',
      emit: 'ts',
      snapshot: false,
      transactional: true,
      allOrNothing: true,
    },
  });
}

export default createOrmConfig;
