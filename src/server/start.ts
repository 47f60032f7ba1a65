import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { openDatabase, type Database } from '../db/database.js';
import { buildApp } from './app.js';

export interface RunningServer {
  /** Base URL, e.g. http://localhost:4000 */
  readonly url: string;
  readonly app: FastifyInstance;
  readonly database: Database;
  /** Stops accepting, finishes requests in flight, closes the ORM and the embedded database. */
  close(): Promise<void>;
}

/** Opens the database (migrating it), builds the app and listens on config.host:config.port. */
export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  const database = await openDatabase(config.database, logger);
  let app: FastifyInstance;
  try {
    app = await buildApp({ config, database, logger });
    await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    await database.close();
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    app,
    database,
    close() {
      closing ??= (async () => {
        try {
          await app.close();
        } finally {
          await database.close();
        }
      })();
      return closing;
    },
  };
}
