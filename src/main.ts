/** `npm start`: config, database (embedded or not), server; graceful shutdown on SIGINT/SIGTERM. */
import 'reflect-metadata';
import { ConfigError, loadConfig, type Config } from './config.js';
import { keepDevelopmentSecret } from './development-secret.js';
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
  if (error instanceof ConfigError) fail(`Configuration error: ${error.message}`);
  fail(`Start failed: ${error instanceof Error ? error.message : String(error)}`);
}

const server = await startServer(config, logger).catch((error: unknown) => {
  // A refusal found only at start (signing keys sealed with another AUTH_SECRET): one line, as above.
  if (error instanceof ConfigError) fail(`Configuration error: ${error.message}`);
  const busy = portInUse(error, config);
  if (busy) fail(busy);
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

/**
 * EADDRINUSE / EACCES on one of our ports, as one line: which port, the variable that moves it and,
 * for the emulator's, how to use the emulator that already holds it.
 */
function portInUse(error: unknown, { port, emulator, metrics }: Config): string | undefined {
  const { code, port: taken } = (error ?? {}) as NodeJS.ErrnoException & { port?: number };
  if ((code !== 'EADDRINUSE' && code !== 'EACCES') || taken === undefined) return undefined;
  const problem = code === 'EADDRINUSE' ? 'is already in use' : 'needs privileges this user lacks';
  if (emulator.enabled && emulator.url === undefined && taken === emulator.port) {
    return (
      `Port ${taken} (EMULATOR_PORT, the built-in WeChat emulator) ${problem}: set EMULATOR_PORT to a free ` +
      `port, or, if it is \`npm run emulator\`, use it: WECHAT_EMULATOR_URL=http://127.0.0.1:${taken} npm start`
    );
  }
  if (taken === metrics.port && taken !== port) {
    return `Port ${taken} (METRICS_PORT, the metrics listener) ${problem}: set METRICS_PORT to a free port, or unset it`;
  }
  if (taken === port && code === 'EACCES') {
    return `Port ${taken} (PORT) ${problem}: set PORT to one above 1023 (PORT=4000 npm start)`;
  }
  if (taken === port) {
    return `Port ${taken} (PORT) ${problem}: is another server running? Stop it, or set PORT to a free port (PORT=${taken + 1} npm start)`;
  }
  return undefined;
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
