import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import fastifyApollo, { fastifyApolloDrainPlugin } from '@as-integrations/fastify';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { SecretBox } from '../crypto/secret-box.js';
import type { Database } from '../db/database.js';
import { createContext, type Context } from '../graphql/context.js';
import { DEFAULT_BATCH_SIZE, HousekeepingJob, type PruneResult } from '../housekeeping/housekeeping.js';
import { createFormatError } from '../graphql/format-error.js';
import { mutationLimitRule } from '../graphql/mutation-limit.js';
import { documentLimitRule, QUERY_LIMITS, queryLimitRule } from '../graphql/query-limits.js';
import { buildGraphQLSchema } from '../graphql/schema.js';
import { registerBrowserSecurity } from './browser-security.js';
import { poolStats } from '../db/pool.js';
import { SigningKeys } from '../keys/signing-keys.js';
import { registerExamplePages } from './example-pages.js';
import { registerLocalExplorer, sandboxLandingPage } from './explorers.js';
import { registerHttpErrorHandler } from './http-errors.js';
import { requestChildLogger } from './logger.js';
import { registerRequestIds, requestIdOf } from './request-id.js';
import { createServices } from './services.js';
import { registerWellKnownRoutes } from './well-known.js';
import { graphqlMetricsPlugin } from '../metrics/graphql-plugin.js';
import { Metrics } from '../metrics/metrics.js';
import { WebhookOutbox } from '../webhooks/outbox.js';
import { WebhookDeliveryRepository } from '../webhooks/webhook-delivery.repository.js';
import {
  DEFAULT_WEBHOOK_SETTINGS,
  WebhookWorker,
  type WebhookWorkerSettings,
} from '../webhooks/webhook-worker.js';

/** Tokens and personal data: no GraphQL answer may be stored by a browser or a proxy. */
function noStore(): ApolloServerPlugin<Context> {
  const willSendResponse = async ({ response }: { response: { http: { headers: Map<string, string> } } }) => {
    response.http.headers.set('cache-control', 'no-store');
  };
  return { requestDidStart: async () => ({ willSendResponse }) };
}

/** Production's answer to a browser opening /graphql: one plain page, nothing loaded from elsewhere. */
function plainLandingPage(): ApolloServerPlugin<Context> {
  const html =
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>GraphQL API</title></head>' +
    '<body><p>This is a GraphQL API: send operations with POST to this URL.</p></body></html>';
  return { serverWillStart: async () => ({ renderLandingPage: async () => ({ html }) }) };
}

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

export interface AppDeps {
  config: Config;
  database: Database;
  logger: Logger;
  /** Tests shorten the retry schedule and the timeout; the defaults are docs/webhooks.md's. */
  webhookSettings?: Partial<Omit<WebhookWorkerSettings, 'secret'>>;
  /** Set `draining` to make /readyz answer 503 while the server still serves (SIGTERM). */
  readiness?: Readiness;
  /** Told what each housekeeping pass of this instance deleted (for metrics). */
  onHousekeepingPass?: (result: PruneResult) => void;
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

/** Whether this instance wants traffic: false from the moment it begins to shut down. */
export interface Readiness {
  draining: boolean;
}

/** The longest /readyz waits for the database before answering 503. */
const READINESS_TIMEOUT_MS = 2000;

/** Fastify with Apollo at /graphql, /livez, /readyz (/healthz) and the keys at /.well-known/; not listening yet. */
export async function buildApp({
  config,
  database,
  logger,
  webhookSettings,
  readiness = { draining: false },
  onHousekeepingPass,
  metrics = new Metrics(),
}: AppDeps): Promise<FastifyInstance> {
  // First: a database whose keys this AUTH_SECRET cannot open stops the start before anything else.
  const box = new SecretBox(config.authSecret, config.authSecretPrevious);
  const signingKeys = await SigningKeys.start(
    database.orm,
    box,
    {
      ...config.signingKeys,
      accessTokenTtlSeconds: config.session.accessTokenTtlSeconds,
      isProduction: config.isProduction,
    },
    logger.child({ component: 'signing-keys' }),
  );

  const app = Fastify({
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
  });
  registerRequestIds(app);
  await registerBrowserSecurity(app, config);

  const apollo = new ApolloServer<Context>({
    schema: await buildGraphQLSchema(),
    introspection: !config.isProduction,
    // Production tells a client nothing of the schema it did not ask for ("Did you mean …?").
    hideSchemaDetailsFromClientErrors: config.isProduction,
    includeStacktraceInErrorResponses: false,
    csrfPrevention: true,
    allowBatchedHttpRequests: false,
    // Apollo runs these after graphql-js's specifiedRules, in one pass; documentLimitRule swaps an
    // oversized document for an empty one before any rule visits its operations (query-limits.ts).
    validationRules: [documentLimitRule(), queryLimitRule(), mutationLimitRule()],
    parseOptions: { maxTokens: QUERY_LIMITS.maxTokens },
    formatError: createFormatError(logger),
    plugins: [
      // Apollo's cache-control plugin hooks every field of every operation to compute a policy
      // this API never has (nothing here is cacheable): off, and every answer says no-store.
      ApolloServerPluginCacheControlDisabled(),
      noStore(),
      graphqlMetricsPlugin<Context>(metrics),
      fastifyApolloDrainPlugin(app),
      config.isProduction ? plainLandingPage() : sandboxLandingPage<Context>(),
    ],
  });
  await apollo.start();

  // Shutting down: answers still in flight tell their client to close the connection, so a
  // keep-alive client cannot hold the server open after its last answer.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });

  registerHttpErrorHandler(app);

  // Probes poll these often: their request lines only at warn level.
  // Liveness: the process is up and its event loop turns; the database is not asked.
  app.get('/livez', { logLevel: 'warn' }, async (_request, reply) => reply.send({ status: 'ok' }));
  // Readiness: send traffic here? Not while shutting down, nor while the database does not answer.
  const ready = async (_request: unknown, reply: FastifyReply) => {
    if (readiness.draining || closing) return reply.code(503).send({ status: 'stopping' });
    const ok = await database.ping(READINESS_TIMEOUT_MS);
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable' });
  };
  app.get('/readyz', { logLevel: 'warn' }, ready);
  app.get('/healthz', { logLevel: 'warn' }, ready);

  registerWellKnownRoutes(app, { publicUrl: config.publicUrl, signingKeys });

  if (!config.isProduction) {
    registerExamplePages(app);
    await registerLocalExplorer(app, {
      hint: config.emulator.enabled
        ? {
            emulatorUrl: config.wechat.apiBaseUrl,
            miniAppId: config.wechat.apps.find((a) => a.kind === 'mini')?.appId,
          }
        : {},
    });
  }

  const outbox = new WebhookOutbox(config.webhooks.urls);
  const services = createServices(config, logger, { box, signingKeys, outbox, em: database.orm.em, metrics });
  observeDatabase(metrics, database);
  // Every instance sends the outbox; one without endpoints has nothing to send.
  const webhooks =
    config.webhooks.urls.length > 0
      ? new WebhookWorker(
          database.orm,
          outbox,
          { ...DEFAULT_WEBHOOK_SETTINGS, ...webhookSettings, secret: config.webhooks.secret },
          logger.child({ component: 'webhooks' }),
          (outcome) => metrics.webhookDeliveries.inc({ outcome }),
        )
      : undefined;
  webhooks?.start();
  // Every instance runs it; an advisory lock lets one pass run at a time.
  const housekeeping = new HousekeepingJob(
    database.orm,
    { ...config.housekeeping, batchSize: DEFAULT_BATCH_SIZE },
    logger.child({ component: 'housekeeping' }),
    (result) => {
      metrics.housekeepingPasses.inc({ result: result.skipped ? 'skipped' : 'done' });
      for (const [table, rows] of Object.entries(result.deleted ?? {})) {
        metrics.housekeepingDeleted.inc({ table }, rows);
      }
      onHousekeepingPass?.(result);
    },
  );
  housekeeping.start();
  app.addHook('onClose', async () => {
    await housekeeping.close();
    await webhooks?.close();
    await services.close();
    await signingKeys.close();
  });

  await app.register(fastifyApollo(apollo), {
    context: async (request): Promise<Context> => createContext(database.orm.em.fork(), request, services),
  });

  return app;
}
