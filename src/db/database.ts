import { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { createOrmConfig } from '../../mikro-orm.config.js';
import { nameStatements } from './pool.js';
import { execute, sql } from './sql.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded.js';

export interface DatabaseSettings {
  /** A real server; undefined starts the embedded one in `embeddedDir`. */
  readonly url: string | undefined;
  readonly embeddedDir: string;
  readonly migrateOnStart: boolean;
  /** Pool size for a real server (the embedded one always gets exactly 1). */
  readonly poolMax?: number;
  /** Raw statements as named prepared statements (default true; see src/db/sql.ts). */
  readonly namedStatements?: boolean;
  /** A pool connection unused this long is closed (default 30 s, knex's). */
  readonly poolIdleSeconds?: number;
}

export interface Database {
  readonly orm: MikroORM;
  /** Where the data lives, for the banner: a URL without password, or the embedded directory and socket. */
  readonly description: string;
  readonly embedded: boolean;
  /**
   * Resolves true when the database answers a query within the timeout (2 s), asked the way the
   * logins ask theirs (a pool connection, a named prepared statement): a pool whose statements
   * fail fails the probe too. Concurrent calls share one query: probes cannot pile up on a slow
   * database.
   */
  ping(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

/** A readiness query still unanswered after this long is no longer waited for. */
const STALE_PING_MS = 10_000;

const PING = sql<never, { ok: number }>('select 1 as ok');

/** Connects the ORM to a real or the embedded PostgreSQL and applies pending migrations. */
export async function openDatabase(settings: DatabaseSettings, logger?: Logger): Promise<Database> {
  let embedded: EmbeddedPostgres | undefined;
  let clientUrl = settings.url;
  if (!clientUrl) {
    embedded = await startEmbeddedPostgres(settings.embeddedDir);
    clientUrl = embedded.url;
  }
  let orm: MikroORM;
  try {
    orm = await MikroORM.init(
      createOrmConfig({
        clientUrl,
        poolMax: embedded ? 1 : (settings.poolMax ?? 10),
        poolIdleSeconds: settings.poolIdleSeconds,
        // eslint-disable-next-line no-control-regex -- the migrator colours its lines
        log: (message) => logger?.debug(message.replace(/\x1b\[[0-9;]*m/g, '')),
        warn: (message) => logger?.warn(`database: ${message}`),
      }),
    );
    nameStatements(orm.em, settings.namedStatements ?? true);
    if (settings.migrateOnStart) {
      const applied = await orm.getMigrator().up();
      if (applied.length > 0) logger?.info({ migrations: applied.map((m) => m.name) }, 'applied migrations');
    }
  } catch (error) {
    await embedded?.close();
    throw error;
  }

  const description = embedded
    ? `embedded PostgreSQL (PGlite) in ${settings.embeddedDir}, socket ${embedded.socketPath}`
    : redactUrl(clientUrl);
  let closing: Promise<void> | undefined;
  let pinging: { started: number; query: Promise<boolean> } | undefined;
  return {
    orm,
    description,
    embedded: Boolean(embedded),
    ping(timeoutMs = 2000) {
      // One query in flight at a time: probes that arrive meanwhile wait for its answer. A query
      // that hangs (a silent network) is given up after STALE_PING_MS so the next probe may try a
      // new connection; until then probes answer false at their timeout.
      if (pinging && performance.now() - pinging.started > STALE_PING_MS) pinging = undefined;
      const current = (pinging ??= {
        started: performance.now(),
        query: execute(orm.em.fork(), PING, {})
          .then(
            () => true,
            () => false,
          )
          .finally(() => {
            if (pinging === current) pinging = undefined;
          }),
      });
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      return Promise.race([current.query, timeout]).finally(() => clearTimeout(timer));
    },
    close() {
      closing ??= (async () => {
        await orm.close(true);
        await embedded?.close();
      })();
      return closing;
    },
  };
}

/** libpq's query parameters that carry a secret (`?password=…` works as well as `user:…@`). */
const SECRET_PARAMETERS = ['password', 'sslpassword'];

/** The URL without its password (in the user part or as a parameter), safe for a log line. */
export function redactUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  for (const name of SECRET_PARAMETERS)
    if (parsed.searchParams.has(name)) parsed.searchParams.set(name, '***');
  return parsed.toString();
}
