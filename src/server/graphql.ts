import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import { fastifyApolloDrainPlugin, fastifyApolloHandler } from '@as-integrations/fastify';
import fastifyWebsocket from '@fastify/websocket';
import { handleProtocols } from 'graphql-ws';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { SecretBox } from '../crypto/secret-box.js';
import type { Database } from '../db/database.js';
import { createContext, type Context } from '../graphql/context.js';
import { createFormatError } from '../graphql/format-error.js';
import { mutationLimitRule } from '../graphql/mutation-limit.js';
import { documentLimitRule, QUERY_LIMITS, queryLimitRule } from '../graphql/query-limits.js';
import { buildGraphQLSchema } from '../graphql/schema.js';
import type { SigningKeys } from '../keys/signing-keys.js';
import { graphqlMetricsPlugin } from '../metrics/graphql-plugin.js';
import type { Metrics } from '../metrics/metrics.js';
import type { WebhookOutbox } from '../webhooks/outbox.js';
import { sandboxLandingPage } from './explorers.js';
import { createServices, type Services } from './services.js';
import { SOCKET_LIMITS, subscriptionRoute } from './subscriptions.js';

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

export interface GraphQLDeps {
  config: Config;
  database: Database;
  logger: Logger;
  metrics: Metrics;
  /** Shared with the rest of the app: the sealing box, the signing keys and the webhook outbox. */
  box: SecretBox;
  signingKeys: SigningKeys;
  outbox: WebhookOutbox;
}

/**
 * /graphql: Apollo Server (started here) over the services it owns (created here, closed with the
 * app: WeChat keep-alive sockets, a Redis connection, the LISTEN connection of login tickets), and
 * returns them for the routes beside it that use them (pushes, the admin API).
 * Each request gets a fork of the ORM's entity manager and the services (src/graphql/context.ts).
 * A GET that asks to upgrade is a graphql-ws socket for subscriptions, on the same schema
 * (src/server/subscriptions.ts).
 */
export async function registerGraphQL(
  app: FastifyInstance,
  { config, database, logger, metrics, box, signingKeys, outbox }: GraphQLDeps,
): Promise<Services> {
  const schema = await buildGraphQLSchema();
  const formatError = createFormatError(logger);
  const apollo = new ApolloServer<Context>({
    schema,
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
    formatError,
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

  const em = database.orm.em;
  const services = createServices(config, logger, {
    box,
    signingKeys,
    outbox,
    em,
    metrics,
    listenUrl: database.embedded ? undefined : (em.config.get('clientUrl') as string | undefined),
  });
  app.addHook('onClose', async () => {
    await services.close();
  });

  const handler = fastifyApolloHandler(apollo, {
    context: async (request): Promise<Context> => createContext(em.fork(), request, services),
  });
  await app.register(fastifyWebsocket, {
    options: { maxPayload: SOCKET_LIMITS.maxPayloadBytes, handleProtocols },
  });
  const sockets = subscriptionRoute({ config, schema, services, em, formatError });
  app.route({ method: ['POST', 'OPTIONS'], url: '/graphql', handler });
  app.route({
    method: 'GET',
    url: '/graphql',
    handler,
    wsHandler: sockets.wsHandler,
    preValidation: sockets.preValidation,
  });
  return services;
}
