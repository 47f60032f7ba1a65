import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { openDatabase, type Database } from '../db/database.js';
import type { Emulator } from '../emulator/emulator.js';
import { listenMetrics, type MetricsListener } from '../metrics/metrics-server.js';
import { Metrics } from '../metrics/metrics.js';
import { buildApp, type AppDeps } from './app.js';

export interface RunningServer {
  /** Base URL, e.g. http://localhost:4000 */
  readonly url: string;
  readonly app: FastifyInstance;
  readonly database: Database;
  /** The in-process WeChat emulator when WECHAT_EMULATOR is on (and WECHAT_EMULATOR_URL unset). */
  readonly emulator: Emulator | undefined;
  /** Where the WeChat emulator in use answers (ours or WECHAT_EMULATOR_URL); undefined: real WeChat. */
  readonly emulatorUrl: string | undefined;
  /** The config in force: with the emulator on, its URLs and demo apps. */
  readonly config: Config;
  /** /readyz answers 503 from now on (a load balancer stops sending); everything else still works. */
  drain(): void;
  /** This instance's metrics (always counted). */
  readonly metrics: Metrics;
  /** Where /metrics is served (METRICS_HOST:METRICS_PORT); undefined when METRICS_PORT is unset. */
  readonly metricsUrl: string | undefined;
  /** Stops accepting, finishes requests in flight, closes the ORM and the embedded database. */
  close(): Promise<void>;
}

/**
 * Starts the emulator when it is on, opens the database (migrating it), builds the app and listens
 * on config.host:config.port.
 */
export async function startServer(
  baseConfig: Config,
  logger: Logger,
  options: Pick<AppDeps, 'webhookSettings' | 'onHousekeepingPass'> = {},
): Promise<RunningServer> {
  let config = baseConfig;
  let emulator: Emulator | undefined;
  let emulatorUrl: string | undefined;
  if (config.emulator.enabled) {
    // Loaded only when on, so a production process never loads a file of the emulator.
    const { startAttachedEmulator } = await import('../emulator/attach.js');
    ({ emulator, config, url: emulatorUrl } = await startAttachedEmulator(config, logger));
  }
  let database: Database | undefined;
  let app: FastifyInstance | undefined;
  let metricsListener: MetricsListener | undefined;
  const metrics = new Metrics();
  const readiness = { draining: false };
  try {
    database = await openDatabase(config.database, logger);
    app = await buildApp({ config, database, logger, readiness, metrics, ...options });
    await app.listen({ host: config.host, port: config.port });
    if (config.metrics.port !== undefined) {
      metricsListener = await listenMetrics(
        metrics,
        { host: config.metrics.host, port: config.metrics.port },
        logger.child({ component: 'metrics' }),
      );
    }
  } catch (error) {
    await app?.close();
    await database?.close();
    await emulator?.close();
    throw error;
  }
  const listening = app;
  const address = listening.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    app: listening,
    database,
    emulator,
    emulatorUrl,
    config,
    drain() {
      readiness.draining = true;
    },
    metrics,
    metricsUrl: metricsListener?.url,
    close() {
      readiness.draining = true;
      closing ??= (async () => {
        try {
          await Promise.all([listening.close(), metricsListener?.close()]);
        } finally {
          await database.close();
          await emulator?.close();
        }
      })();
      return closing;
    },
  };
}
