/** `npm start`: config, database (embedded or not), server; graceful shutdown on SIGINT/SIGTERM. */
import 'reflect-metadata';
import { ConfigError, loadConfig, type Config } from './config.js';
import { LOCAL_EXPLORER_PATH } from './server/explorers.js';
import { createLogger } from './server/logger.js';
import { startServer } from './server/start.js';

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) fail(`Configuration error: ${error.message}`);
  throw error;
}

const logger = createLogger({ level: config.logLevel });
if (config.authSecretGenerated) {
  logger.warn(
    'AUTH_SECRET is not set: using a random one for this process, so web logins in progress and ' +
      'values sealed now (the signing key, session keys) cannot be read after a restart',
  );
}

const server = await startServer(config, logger).catch((error: unknown) => {
  // A refusal found only at start (signing keys sealed with another AUTH_SECRET): one line, as above.
  if (error instanceof ConfigError) fail(`Configuration error: ${error.message}`);
  logger.fatal({ err: error }, 'the server could not start');
  fail(`Start failed: ${error instanceof Error ? error.message : String(error)}`);
});

logger.info(
  {
    database: server.database.description,
    graphql: `${server.url}/graphql`,
    ...(config.isProduction ? {} : { explorer: `${server.url}${LOCAL_EXPLORER_PATH}` }),
  },
  `WeChat login server ready at ${server.url}/graphql` +
    (config.isProduction
      ? ''
      : ` (in a browser: Apollo Sandbox, from Apollo's CDN; offline, GraphiQL at ${server.url}${LOCAL_EXPLORER_PATH})`),
);
if (server.emulator) {
  const { web, app, mini } = server.config.wechat;
  logger.warn(
    { emulator: server.emulator.url, apps: { web: web?.appId, app: app?.appId, mini: mini?.appId } },
    `WeChat logins are SIMULATED by the built-in WeChat emulator at ${server.emulator.url} ` +
      '(no WeChat credentials set). Set WECHAT_*_APPID/SECRET for real WeChat.',
  );
}

/** A shutdown that takes longer than this is stuck: exit non-zero rather than hang. */
const SHUTDOWN_DEADLINE_MS = 10_000;

let stopping = false;
function shutdown(signal: NodeJS.Signals): void {
  // npm forwards Ctrl-C to us as well as the terminal: a repeated signal must not cut the shutdown
  // short, or the embedded database could be left half-written.
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping: finishing requests in flight');
  setTimeout(() => {
    logger.error('shutdown took longer than 10 s: exiting');
    process.exit(1);
  }, SHUTDOWN_DEADLINE_MS).unref();
  server.close().then(
    () => {
      logger.info('stopped');
      process.exit(0);
    },
    (error: unknown) => {
      logger.error({ err: error }, 'error while stopping');
      process.exit(1);
    },
  );
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
