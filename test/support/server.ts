import { loadConfig } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/server/start.js';
import type { AppDeps } from '../../src/server/app.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { postGraphQL, type GraphQLBody } from './graphql.js';
import { captureLog, type CapturedLog } from './logger.js';

export interface TestServer {
  readonly server: RunningServer;
  readonly db: TestDatabase;
  readonly log: CapturedLog;
  readonly url: string;
  /** POSTs a GraphQL operation to /graphql and returns status and parsed body. */
  graphql<T = unknown>(
    query: string,
    variables?: Record<string, unknown>,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: GraphQLBody<T> }>;
  stop(): Promise<void>;
}

/** The real server on a fresh database and an OS-picked port, its log captured. */
export async function startTestServer(
  env: Record<string, string> = {},
  options: Pick<AppDeps, 'webhookSettings' | 'onHousekeepingPass'> & {
    /** The server reaches the database at this URL instead (a proxy in front of it). */
    through?: (databaseUrl: string) => Promise<string>;
  } = {},
): Promise<TestServer> {
  const { through, ...appOptions } = options;
  const db = await createTestDatabase();
  const log = captureLog();
  const config = loadConfig({
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    DATABASE_URL: through ? await through(db.url) : db.url,
    DATABASE_POOL_MAX: String(db.poolMax),
    WECHAT_EMULATOR: 'off',
    ...env,
  });
  let server: RunningServer;
  try {
    server = await startServer(config, log.logger, appOptions);
  } catch (error) {
    await db.drop();
    throw error;
  }
  return {
    server,
    db,
    log,
    url: server.url,
    graphql: (query, variables, headers) => postGraphQL(server.url, query, variables, headers),
    async stop() {
      try {
        await server.close();
      } finally {
        await db.drop();
      }
    },
  };
}
