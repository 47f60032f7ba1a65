import { ApolloServer } from '@apollo/server';
import {
  ApolloServerPluginLandingPageLocalDefault,
  ApolloServerPluginLandingPageProductionDefault,
} from '@apollo/server/plugin/landingPage/default';
import fastifyApollo, { fastifyApolloDrainPlugin } from '@as-integrations/fastify';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import { buildGraphQLSchema } from '../graphql/schema.js';
import type { Context } from './context.js';
import { createFormatError } from './format-error.js';
import { QUERY_LIMITS, queryLimitRule } from './query-limits.js';
import { registerExampleRoutes } from './examples.js';
import { createServices } from './services.js';

export interface AppDeps {
  config: Config;
  database: Database;
  logger: Logger;
}

/** Fastify with Apollo at /graphql and /healthz; not listening yet. */
export async function buildApp({ config, database, logger }: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: 256 * 1024,
    forceCloseConnections: 'idle',
    trustProxy: config.trustProxy,
  });

  const apollo = new ApolloServer<Context>({
    schema: await buildGraphQLSchema(),
    introspection: !config.isProduction,
    includeStacktraceInErrorResponses: false,
    csrfPrevention: true,
    allowBatchedHttpRequests: false,
    validationRules: [queryLimitRule()],
    parseOptions: { maxTokens: QUERY_LIMITS.maxTokens },
    formatError: createFormatError(logger),
    plugins: [
      fastifyApolloDrainPlugin(app),
      config.isProduction
        ? ApolloServerPluginLandingPageProductionDefault({ footer: false })
        : ApolloServerPluginLandingPageLocalDefault({ embed: true, footer: false }),
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

  // Errors Fastify raises before GraphQL runs (body too large, not JSON, wrong content type) are
  // answered in GraphQL's shape with a code, like every other error.
  app.setErrorHandler((error: { statusCode?: number; code?: string; message: string }, request, reply) => {
    const status =
      error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) request.log.error({ err: error }, 'request failed');
    const message = status === 500 ? 'Internal server error' : error.message;
    const code =
      status === 500 ? 'INTERNAL_SERVER_ERROR' : status === 413 ? 'PAYLOAD_TOO_LARGE' : 'BAD_REQUEST';
    return reply.code(status).send({ errors: [{ message, extensions: { code } }] });
  });

  // Probes poll this often: its request lines only at warn level.
  app.get('/healthz', { logLevel: 'warn' }, async (_request, reply) => {
    const ok = await database.ping();
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable' });
  });

  if (!config.isProduction) registerExampleRoutes(app);

  const services = createServices(config, logger);
  app.addHook('onClose', async () => services.close());

  await app.register(fastifyApollo(apollo), {
    context: async (request): Promise<Context> => {
      const em = database.orm.em.fork();
      let auth: ReturnType<Context['auth']> | undefined;
      return {
        em,
        request,
        services,
        auth: () => (auth ??= services.sessions.authenticate(em, request.headers.authorization)),
      };
    },
  });

  return app;
}
