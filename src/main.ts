/**
 * `npm start`: config, database (embedded or not), server; graceful shutdown on SIGINT/SIGTERM.
 * With WEB_CONCURRENCY above 1 this process is the primary of that many workers, each of which
 * runs this file too and serves as one server does (src/server/cluster.ts).
 */
import 'reflect-metadata';
import cluster from 'node:cluster';
import { ConfigError, loadConfig, type Config } from './config.js';
import { keepDevelopmentSecret } from './development-secret.js';
import { logReady } from './server/banner.js';
import { createLogger, type Logger } from './server/logger.js';
import { alreadyRunning, portInUse, whyNotStart } from './server/preflight.js';
import { WORKER_ARG } from './server/worker-arg.js';
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

// A worker of WEB_CONCURRENCY: its primary has checked the ports, kept the development secret,
// migrated the database and started the emulator; the worker's environment says so.
// (A worker of another cluster primary, PM2's, runs as a server alone.)
const worker = cluster.isWorker && process.argv.includes(WORKER_ARG) ? cluster.worker : undefined;

// A server already running, a port taken: said in one line before anything slow starts.
if (!worker) {
  const refusal = await whyNotStart(config);
  if (refusal) fail(refusal);
}

// A worker's lines carry its id (`worker`), beside the pid every line has.
const logger: Logger = worker
  ? createLogger({ level: config.logLevel }).child({ worker: worker.id })
  : createLogger({ level: config.logLevel });
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

/** A start that failed: one line for a person (and the details of an unforeseen error), exit 1. */
async function startFailed(error: unknown): Promise<never> {
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
}

if (!worker && config.webConcurrency > 1) {
  // The primary: it migrates, forks the workers, serves the sum of their metrics, stops them on a signal.
  const { startPrimary } = await import('./server/cluster.js');
  await startPrimary(config, logger).catch(startFailed);
} else {
  await serve();
}

/** One server in this process: alone (WEB_CONCURRENCY unset or 1), or as a worker of the primary. */
async function serve(): Promise<void> {
  // Loaded here: a primary of WEB_CONCURRENCY never serves, so it never holds the server's modules.
  const { startServer } = await import('./server/start.js');
  const server = await startServer(config, logger).catch(startFailed);
  if (server.database.embedded && !config.database.embeddedDir.startsWith('memory://')) {
    // A second `npm start` on this directory can then say where this one answers.
    await announceServerUrl(config.database.embeddedDir, server.url).catch(() => {});
  }

  if (!worker) {
    logReady(logger, {
      url: server.url,
      database: server.database.description,
      config: server.config,
      emulatorUrl: server.emulatorUrl,
      ownEmulator: Boolean(server.emulator),
    });
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

  if (worker) {
    // Ready, and stoppable: the primary announces the server once every worker is; it asks each
    // for its metrics to serve their sum.
    const { reportToPrimary } = await import('./server/cluster.js');
    reportToPrimary(server);
  }
}
