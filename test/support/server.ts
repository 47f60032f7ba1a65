import { loadConfig } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/server/start.js';
import { createTestDatabase, type TestDatabase } from './database.js';
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

export interface GraphQLBody<T> {
  data?: T | null;
  errors?: Array<{ message: string; extensions?: Record<string, unknown>; path?: unknown[] }>;
}

/** The real server on a fresh database and an OS-picked port, its log captured. */
export async function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const db = await createTestDatabase();
  const log = captureLog();
  const config = loadConfig({
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    DATABASE_URL: db.url,
    DATABASE_POOL_MAX: String(db.poolMax),
    WECHAT_EMULATOR: 'off',
    ...env,
  });
  let server: RunningServer;
  try {
    server = await startServer(config, log.logger);
  } catch (error) {
    await db.drop();
    throw error;
  }
  return {
    server,
    db,
    log,
    url: server.url,
    async graphql<T>(
      query: string,
      variables?: Record<string, unknown>,
      headers: Record<string, string> = {},
    ) {
      const response = await fetch(`${server.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ query, variables }),
      });
      return { status: response.status, body: (await response.json()) as GraphQLBody<T> };
    },
    async stop() {
      try {
        await server.close();
      } finally {
        await db.drop();
      }
    },
  };
}
