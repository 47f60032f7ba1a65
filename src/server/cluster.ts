import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import {
  AggregatorRegistry,
  collectDefaultMetrics,
  Registry,
  type MetricObjectWithValues,
  type MetricValue,
  type PrometheusContentType,
} from 'prom-client';
import type { Config } from '../config.js';
import { openDatabase, redactUrl } from '../db/database.js';
import type { Emulator } from '../emulator/emulator.js';
import { listenMetrics, type MetricsListener } from '../metrics/metrics-server.js';
import { METRIC_PREFIX } from '../metrics/metrics.js';
import { SecretBox } from '../crypto/secret-box.js';
import { startSigningKeys } from './background-jobs.js';
import { logReady } from './banner.js';
import { WORKER_ARG } from './worker-arg.js';
import type { RunningServer } from './start.js';

/**
 * WEB_CONCURRENCY above 1: one primary process and that many workers on one PORT (node:cluster;
 * the primary accepts the connections and hands them to the workers in turn).
 *
 * The primary does what must happen once: the checks of src/main.ts, the development secret, the
 * migrations (MIGRATE_ON_START) and a first read of the signing keys (a refusal said once, the
 * first key made once), the built-in WeChat emulator (an emulator keeps its codes in
 * memory, so the workers share the primary's through WECHAT_EMULATOR_URL) and the metrics listener
 * (METRICS_PORT), which serves the sum of every process's metrics. Each worker is the server of a
 * single process (src/main.ts), background jobs included, as several instances on one database
 * are; it neither migrates nor listens for metrics. A signal to the primary stops every worker
 * the way a signal stops one server; a worker that dies is replaced.
 */

/** What a worker says to its primary, and what the primary asks it (over the cluster's IPC channel). */
const READY = 'wechat-login:ready';
const METRICS = 'wechat-login:metrics';

type WorkerMetrics = MetricObjectWithValues<MetricValue<string>>[];

type Message =
  | { type: typeof READY; url: string }
  | { type: typeof METRICS; id: number; metrics?: WorkerMetrics; error?: string };

function isMessage(value: unknown): value is Message {
  const type = (value as { type?: unknown } | null)?.type;
  return type === READY || type === METRICS;
}

/** How long a scrape waits for a worker's metrics before it fails (a worker that does not answer). */
const WORKER_METRICS_TIMEOUT_MS = 5000;
/** After the drain, each worker gives itself 10 s to stop; the primary waits this long, then kills. */
const SHUTDOWN_DEADLINE_MS = 15_000;
/** A worker that died is replaced after this, doubled for each other death in the last minute… */
const RESTART_DELAY_MS = 500;
/** …up to this. */
const RESTART_DELAY_MAX_MS = 30_000;
const CRASH_WINDOW_MS = 60_000;

/**
 * In a worker, once its server is ready and its signal handlers are set: tells the primary, and
 * answers the primary's requests for this worker's metrics (their JSON, which it sums).
 */
export function reportToPrimary(server: RunningServer): void {
  // A channel closed meanwhile (the primary is gone) is not an error worth a crash.
  const send = (message: Message) => process.send?.(message, undefined, {}, () => {});
  process.on('message', (message: unknown) => {
    if (!isMessage(message) || message.type !== METRICS) return;
    server.metrics.registry.getMetricsAsJSON().then(
      (metrics) => send({ type: METRICS, id: message.id, metrics }),
      (error: unknown) => send({ type: METRICS, id: message.id, error: String(error) }),
    );
  });
  send({ type: READY, url: server.url });
}

/**
 * The primary: starts the emulator, migrates and reads the signing keys, forks the workers and,
 * once all are ready, starts the metrics listener and resolves. A worker that dies before then
 * stops the start: the others are stopped and the process exits 1. Anything that fails before the
 * workers start is thrown, as startServer throws (src/main.ts says it in one line).
 */
export async function startPrimary(baseConfig: Config, logger: Logger): Promise<void> {
  const size = baseConfig.webConcurrency;
  const cores = availableParallelism();
  if (size > cores) {
    logger.warn(
      { workers: size, cores },
      `WEB_CONCURRENCY=${size} is more than the ${cores} cores this process may use: the workers will take turns on them`,
    );
  }

  let config = baseConfig;
  let emulator: Emulator | undefined;
  let emulatorUrl: string | undefined;
  let metricsListener: MetricsListener | undefined;
  // What the workers do differently from a server alone: this process migrated, serves the metrics
  // and runs the emulator.
  const workerEnv: Record<string, string> = { MIGRATE_ON_START: 'false', METRICS_PORT: '' };
  const own = new Registry();
  let phase: 'starting' | 'running' | 'stopping' = 'starting';
  /** Workers forked and not yet exited; those that said they are ready; when each was forked. */
  const live = new Map<Worker, { forkedAt: number }>();
  const ready = new Set<Worker>();
  /** Deaths of running workers in the last CRASH_WINDOW_MS, and the replacements waiting. */
  let deaths: number[] = [];
  const replacements = new Set<NodeJS.Timeout>();
  /** A worker failed to start or to stop: the primary exits 1. */
  let failed = false;
  /** Instead of finish(), once the last worker has exited: a start that failed after the fork. */
  let afterLastExit: (() => void) | undefined;
  let serverUrl = `http://${config.host}:${config.port}`;
  let allReady: () => void = () => {};
  const started = new Promise<void>((resolve) => (allReady = resolve));

  // Structured clone (not JSON) over IPC: metric values may be NaN or ±Infinity.
  // The argument tells our workers from those of another cluster primary (PM2's) running src/main.ts.
  cluster.setupPrimary({ serialization: 'advanced', args: [WORKER_ARG] });
  const fork = () => {
    const worker = cluster.fork(workerEnv);
    live.set(worker, { forkedAt: Date.now() });
    // A message that cannot reach it (it is exiting): said, not thrown.
    worker.on('error', (error: Error) =>
      logger.warn({ err: error, worker: worker.id }, 'worker channel error'),
    );
  };

  // Scrapes: each ready worker's metrics as JSON, summed with this process's own. A worker that
  // does not answer in time is left out of that scrape (and said once per scrape), not the scrape
  // failed: the others' metrics still come. Scrapes that arrive while one runs share its answer.
  let nextRequest = 0;
  const requests = new Map<number, { worker: Worker; done: (metrics: WorkerMetrics | Error) => void }>();
  function metricsOf(worker: Worker): Promise<WorkerMetrics> {
    if (!worker.isConnected()) return Promise.resolve([]);
    return new Promise((resolve) => {
      const id = nextRequest++;
      const timer = setTimeout(
        () =>
          requests
            .get(id)
            ?.done(new Error(`did not send its metrics within ${WORKER_METRICS_TIMEOUT_MS} ms`)),
        WORKER_METRICS_TIMEOUT_MS,
      );
      const done = (metrics: WorkerMetrics | Error) => {
        clearTimeout(timer);
        requests.delete(id);
        if (metrics instanceof Error) {
          logger.warn(
            { worker: worker.id, workerPid: worker.process.pid, reason: metrics.message },
            'a worker left out of a metrics scrape',
          );
          resolve([]);
        } else resolve(metrics);
      };
      requests.set(id, { worker, done });
      // A worker gone meanwhile: its counts went with it.
      worker.send({ type: METRICS, id } satisfies Message, undefined, {}, (error) => error && done([]));
    });
  }
  let inFlight: Promise<{ contentType: string; body: string }> | undefined;
  async function sumOfAll(): Promise<{ contentType: string; body: string }> {
    const workers = await Promise.all([...ready].map(metricsOf));
    // Counters and histograms are summed; gauges as prom-client (and each metric's aggregator) says.
    const sum = AggregatorRegistry.aggregate<PrometheusContentType>([
      await own.getMetricsAsJSON(),
      ...workers,
    ]);
    return { contentType: sum.contentType, body: await sum.metrics() };
  }
  function scrape(): Promise<{ contentType: string; body: string }> {
    inFlight ??= sumOfAll().finally(() => (inFlight = undefined));
    return inFlight;
  }

  try {
    if (config.emulator.enabled) {
      const { startAttachedEmulator } = await import('../emulator/attach.js');
      ({ emulator, config, url: emulatorUrl } = await startAttachedEmulator(config, logger));
      if (emulator) workerEnv.WECHAT_EMULATOR_URL = emulatorUrl;
    }
    // The database once: migrated (MIGRATE_ON_START), and its signing keys read with this
    // AUTH_SECRET (the first one made), so a refusal at start is said once, before any worker.
    const database = await openDatabase(config.database, logger);
    try {
      const box = new SecretBox(config.authSecret, config.authSecretPrevious);
      await (await startSigningKeys({ config, database, logger }, box)).close();
    } finally {
      await database.close();
    }
  } catch (error) {
    await emulator?.close();
    throw error;
  }

  cluster.on('message', (worker, message: unknown) => {
    if (!isMessage(message)) return;
    if (message.type === METRICS) {
      const request = requests.get(message.id);
      if (request?.worker !== worker) return;
      request.done(message.metrics ?? new Error(`worker ${worker.id}: ${message.error ?? 'no metrics'}`));
      return;
    }
    ready.add(worker);
    serverUrl = message.url;
    if (phase === 'running') {
      logger.info({ worker: worker.id, workerPid: worker.process.pid }, 'worker ready (a replacement)');
    } else if (phase === 'starting') {
      if (ready.size === size) {
        phase = 'running';
        allReady();
      }
    }
  });

  cluster.on('exit', (worker, code, signal) => {
    const forkedAt = live.get(worker)?.forkedAt ?? Date.now();
    live.delete(worker);
    ready.delete(worker);
    // Its counts went with it: a scrape waiting on it goes on without them.
    for (const request of requests.values()) if (request.worker === worker) request.done([]);
    const how = signal ? `by ${signal}` : `with code ${code}`;
    const who = { worker: worker.id, workerPid: worker.process.pid, code, signal };
    if (phase === 'stopping') {
      // Ours (SIGTERM) or the terminal's (SIGINT) may end a worker still starting, before its handlers.
      if (code !== 0 && signal !== 'SIGTERM' && signal !== 'SIGINT') {
        failed = true;
        logger.error(who, `worker exited ${how} while stopping`);
      }
      if (live.size === 0) void (afterLastExit ?? finish)();
      return;
    }
    if (phase === 'starting') {
      // Its own line (a configuration error…) is above; this says what the primary does about it.
      process.stderr.write(
        `Start failed: worker ${worker.id} exited ${how} before it was ready; stopping (WEB_CONCURRENCY=${size})\n`,
      );
      failed = true;
      stop();
      return;
    }
    const now = Date.now();
    deaths = [...deaths.filter((at) => now - at < CRASH_WINDOW_MS), now];
    const delayMs = Math.min(RESTART_DELAY_MAX_MS, RESTART_DELAY_MS * 2 ** (deaths.length - 1));
    logger.error(
      { ...who, ranSeconds: Math.round((now - forkedAt) / 1000), restartInMs: delayMs },
      `worker ${worker.id} exited ${how}: starting another in ${delayMs} ms`,
    );
    const timer = setTimeout(() => {
      replacements.delete(timer);
      if (phase === 'running') fork();
    }, delayMs);
    replacements.add(timer);
  });

  /** Every worker stops as a server alone stops on SIGTERM (the drain, then requests in flight). */
  function stop(signal?: NodeJS.Signals): void {
    if (phase === 'stopping') return;
    phase = 'stopping';
    for (const timer of replacements) clearTimeout(timer);
    if (signal) logger.info({ signal, workers: live.size }, 'stopping: every worker drains and stops');
    for (const worker of live.keys()) worker.process.kill('SIGTERM');
    setTimeout(
      () => {
        logger.error(
          { workers: [...live.keys()].map((w) => w.id) },
          'workers took too long to stop: killing them',
        );
        for (const worker of live.keys()) worker.process.kill('SIGKILL');
        process.exit(1);
      },
      config.shutdownDrainSeconds * 1000 + SHUTDOWN_DEADLINE_MS,
    ).unref();
    if (live.size === 0) void finish();
  }

  /** Once every worker has exited: the listener and the emulator go, and so does this process. */
  async function finish(): Promise<void> {
    await Promise.allSettled([metricsListener?.close(), emulator?.close()]);
    if (!failed) logger.info('stopped');
    process.exit(failed ? 1 : 0);
  }

  // npm forwards Ctrl-C as well as the terminal, which signals the workers too: stop() runs once.
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  for (let i = 0; i < size; i++) fork();
  await started;
  if (config.metrics.port !== undefined) {
    // As a server alone: /metrics once the server is ready (so a scrape sees every worker).
    // This process's own CPU and memory count too: it accepts every connection.
    collectDefaultMetrics({ register: own, prefix: METRIC_PREFIX });
    metricsListener = await listenMetrics(
      { scrape },
      { host: config.metrics.host, port: config.metrics.port },
      logger.child({ component: 'metrics' }),
    ).catch(async (error: unknown) => {
      // Taken since the check at start: the workers stop (not replaced), then src/main.ts says
      // which port and exits 1.
      phase = 'stopping';
      failed = true;
      await new Promise<void>((resolve) => {
        afterLastExit = resolve;
        for (const worker of live.keys()) worker.process.kill('SIGTERM');
        if (live.size === 0) resolve();
      });
      throw error;
    });
  }
  logReady(logger, {
    url: serverUrl,
    database: config.database.url ? redactUrl(config.database.url) : config.database.embeddedDir,
    config,
    emulatorUrl,
    ownEmulator: Boolean(emulator),
    workers: size,
  });
}
