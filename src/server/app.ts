import type { Server } from 'node:http';
import Fastify, { type FastifyBaseLogger, type FastifyHttpOptions, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { SecretBox } from '../crypto/secret-box.js';
import type { Database } from '../db/database.js';
import { poolStats } from '../db/pool.js';
import { Metrics } from '../metrics/metrics.js';
import { WebhookOutbox } from '../webhooks/outbox.js';
import { WebhookDeliveryRepository } from '../webhooks/webhook-delivery.repository.js';
import {
  registerBackgroundJobs,
  registerSigningKeyRefresh,
  startSigningKeys,
  type BackgroundJobsDeps,
} from './background-jobs.js';
import { registerBrowserSecurity } from './browser-security.js';
import { registerExplorers } from './explorers.js';
import { registerAdminApi } from './admin-api.js';
import { registerGraphQL } from './graphql.js';
import { registerHealth, type Readiness } from './health.js';
import { registerHttpErrorHandler } from './http-errors.js';
import { requestChildLogger } from './logger.js';
import { registerRequestIds, requestIdOf } from './request-id.js';
import { registerOidc } from './oidc.js';
import { registerWellKnownRoutes } from './well-known.js';
import { registerWechatEvents } from './wechat-events.js';

/**
 * TRUST_PROXY for Fastify. Addresses and CIDRs are Fastify's own (proxy-addr), and the safe choice.
 * A hop count becomes Express's rule (believe the first n addresses from the socket inwards, the
 * client is the next one). Fastify 5 now refuses a bare number because it cannot tell a proxy from
 * a client that connects directly and writes the header itself; so do we in the docs: a hop count
 * only where nothing reaches the server except through its proxies (docs/operations.md).
 */
function trustProxyOption(
  trust: Config['http']['trustProxy'],
): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (trust === false) return false;
  if (typeof trust === 'number') return (_address: string, hop: number) => hop < trust;
  return [...trust];
}

/** Fastify's own settings: the logger, request ids, body and time limits, the proxies to trust. */
function serverOptions(config: Config, logger: Logger): FastifyHttpOptions<Server> {
  return {
    loggerInstance: logger as FastifyBaseLogger,
    childLoggerFactory: requestChildLogger,
    bodyLimit: 256 * 1024,
    forceCloseConnections: 'idle',
    trustProxy: trustProxyOption(config.http.trustProxy),
    // x-request-id: the caller's when sane, else ours (src/server/request-id.ts).
    requestIdHeader: false,
    genReqId: requestIdOf,
    // A client gets REQUEST_TIMEOUT_MS to send a whole request, headers included (slow-loris:
    // answered 408), checked every second or so; a socket idle twice as long is closed.
    requestTimeout: config.http.requestTimeoutMs,
    connectionTimeout: config.http.requestTimeoutMs * 2,
    // Node checks headersTimeout against the requestTimeout given here, at creation: both go in.
    http: {
      requestTimeout: config.http.requestTimeoutMs,
      headersTimeout: config.http.requestTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, Math.ceil(config.http.requestTimeoutMs / 4)),
    },
  };
}

export interface AppDeps extends Pick<BackgroundJobsDeps, 'webhookSettings' | 'onHousekeepingPass'> {
  config: Config;
  database: Database;
  logger: Logger;
  /** Set `draining` to make /readyz answer 503 while the server still serves (SIGTERM). */
  readiness?: Readiness;
  /** This instance's metrics (startServer serves them on METRICS_PORT); a fresh set when omitted. */
  metrics?: Metrics;
}

/** The gauges read at scrape time: the pool's counts and the outbox backlog. */
function observeDatabase(metrics: Metrics, database: Database): void {
  metrics.observe({
    pool: () => poolStats(database.orm.em),
    outboxPending: () => WebhookDeliveryRepository.pending(database.orm.em.fork()),
  });
}

/**
 * Fastify with Apollo at /graphql, Official Account pushes at /wechat/events/:appId, the admin API at
 * /admin/graphql, /livez, /readyz (/healthz) and the keys at /.well-known/; not
 * listening yet. Each part registers its routes and hooks and stops what it started when the app
 * closes; Fastify runs onClose hooks last-registered first, so the app stops in the reverse order:
 * the background jobs, then the services behind /graphql, then the signing keys' refresh.
 */
export async function buildApp({
  config,
  database,
  logger,
  readiness = { draining: false },
  metrics = new Metrics(),
  ...jobOptions
}: AppDeps): Promise<FastifyInstance> {
  // First: a database whose keys this AUTH_SECRET cannot open stops the start before anything else.
  const box = new SecretBox(config.authSecret, config.authSecretPrevious);
  const signingKeys = await startSigningKeys({ config, database, logger }, box);

  const app = Fastify(serverOptions(config, logger));
  registerSigningKeyRefresh(app, signingKeys);
  registerRequestIds(app);
  await registerBrowserSecurity(app, config);
  registerHttpErrorHandler(app);
  registerHealth(app, { database, readiness });
  await registerExplorers(app, config);
  const outbox = new WebhookOutbox(config.webhooks.urls);
  const services = await registerGraphQL(app, {
    config,
    database,
    logger,
    metrics,
    box,
    signingKeys,
    outbox,
  });
  const em = database.orm.em;
  // Official Account pushes use the same services (follow-login confirms login tickets).
  registerWechatEvents(app, { config, followLogin: services.followLogin, em, logger, metrics });
  await registerAdminApi(app, { services, em, logger });
  // With OIDC_CLIENTS: the OpenID Connect provider under /oidc, and discovery from it.
  const oidcDiscovery = await registerOidc(app, { config, em, signingKeys, services, logger });
  registerWellKnownRoutes(app, { publicUrl: config.publicUrl, signingKeys, oidcDiscovery });
  registerBackgroundJobs(app, { config, database, logger, metrics, outbox, ...jobOptions });
  observeDatabase(metrics, database);
  return app;
}
