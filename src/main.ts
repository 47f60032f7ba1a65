/** `npm start`: config, database (embedded or not), server; graceful shutdown on SIGINT/SIGTERM. */
import 'reflect-metadata';
import { ConfigError, loadConfig, type Config } from './config.js';
import { keepDevelopmentSecret } from './development-secret.js';
import { LOCAL_EXPLORER_PATH } from './server/explorers.js';
import { createLogger } from './server/logger.js';
import { alreadyRunning, portInUse, whyNotStart } from './server/preflight.js';
import { startServer } from './server/start.js';
import { announceServerUrl, DataDirInUseError } from './db/embedded.js';

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) fail(error.report);
  throw error;
}

// A server already running, a port taken: said in one line before anything slow starts.
const refusal = await whyNotStart(config);
if (refusal) fail(refusal);

const logger = createLogger({ level: config.logLevel });
try {
  const kept = await keepDevelopmentSecret(config);
  config = kept.config;
  if (kept.created) {
    logger.warn(
      `AUTH_SECRET is not set: generated a development secret and kept it in ${kept.file} (owner-only), ` +
        'so restarts keep sessions; production requires AUTH_SECRET',
    );
  } else if (config.authSecretGenerated && kept.file === undefined) {
    logger.warn(
      'AUTH_SECRET is not set and the database is in memory: using a random secret for this process',
    );
  }
} catch (error) {
  if (error instanceof ConfigError) fail(error.report);
  fail(`Start failed: ${error instanceof Error ? error.message : String(error)}`);
}

const server = await startServer(config, logger).catch(async (error: unknown) => {
  // A refusal found only at start (signing keys sealed with another AUTH_SECRET): one line, as above.
  if (error instanceof ConfigError) fail(error.report);
  // Started in between the check above and ours: the same lines.
  if (error instanceof DataDirInUseError) fail(alreadyRunning(error.dataDir, error.pid, error.url));
  const busy = await portInUse(error, config);
  if (busy) fail(busy);
  // Something unforeseen: the line for a person first, then the details (stack) for a bug report.
  process.stderr.write(`Start failed: ${error instanceof Error ? error.message : String(error)}\n`);
  logger.fatal({ err: error }, 'the server could not start');
  process.exit(1);
});
if (server.database.embedded && !config.database.embeddedDir.startsWith('memory://')) {
  // A second `npm start` on this directory can then say where this one answers.
  await announceServerUrl(config.database.embeddedDir, server.url).catch(() => {});
}

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
if (server.emulatorUrl) {
  const apps = Object.fromEntries(server.config.wechat.apps.map((a) => [a.kind, a.appId]));
  const where = server.emulator ? 'the built-in WeChat emulator' : 'the WeChat emulator already running';
  logger.warn(
    { emulator: server.emulatorUrl, apps },
    `WeChat logins are SIMULATED by ${where} at ${server.emulatorUrl} ` +
      (server.emulator
        ? '(no WeChat credentials set). Set WECHAT_*_APPID/SECRET for real WeChat.'
        : '(WECHAT_EMULATOR_URL). Unset it for real WeChat.'),
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
  // First /readyz says 503, so a load balancer stops sending; requests still get answers meanwhile.
  server.drain();
  const drainMs = config.shutdownDrainSeconds * 1000;
  logger.info(
    { signal, drainSeconds: config.shutdownDrainSeconds },
    drainMs > 0
      ? 'stopping: not ready, serving until the drain ends'
      : 'stopping: finishing requests in flight',
  );
  setTimeout(() => {
    logger.error('shutdown took longer than 10 s: exiting');
    process.exit(1);
  }, drainMs + SHUTDOWN_DEADLINE_MS).unref();
  setTimeout(() => {
    if (drainMs > 0) logger.info('stopping: finishing requests in flight');
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
  }, drainMs);
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
