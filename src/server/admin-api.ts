import { ApolloServer } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import { fastifyApolloHandler } from '@as-integrations/fastify';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { getOperationAST, type GraphQLError, type OperationDefinitionNode } from 'graphql';
import type { Logger } from 'pino';
import { AdminKeys, type AdminCaller } from '../admin/admin-keys.js';
import { AuditLog } from '../audit/audit-log.js';
import { AppError, RateLimitedError, UnauthenticatedError } from '../errors.js';
import type { AdminContext } from '../graphql/admin/admin-context.js';
import { buildAdminSchema } from '../graphql/admin/admin-schema.js';
import { createFormatError } from '../graphql/format-error.js';
import { mutationLimitRule } from '../graphql/mutation-limit.js';
import { documentLimitRule, QUERY_LIMITS, queryLimitRule } from '../graphql/query-limits.js';
import { requestClientOf } from './request-id.js';
import type { Services } from './services.js';

/** Where the admin API answers (POST only; no CORS: server to server). */
export const ADMIN_PATH = '/admin/graphql';

declare module 'fastify' {
  interface FastifyRequest {
    /** The admin key of an /admin/graphql request, once checked. */
    adminCaller?: AdminCaller;
  }
}

export interface AdminApiDeps {
  services: Services;
  em: EntityManager;
  logger: Logger;
}

/** The answer to a request refused before GraphQL runs, in GraphQL's error shape. */
function refuse(reply: FastifyReply, status: number, error: AppError) {
  const extensions = { code: error.code, ...error.details };
  if (error instanceof RateLimitedError) reply.header('retry-after', String(error.details.retryAfterSeconds));
  return reply
    .code(status)
    .header('cache-control', 'no-store')
    .send({ errors: [{ message: error.message, extensions }] });
}

/** An `admin.refused` event: which mutations were asked and the first error's code. */
async function auditRefusal(ctx: AdminContext, operation: OperationDefinitionNode, error: GraphQLError) {
  const fields = operation.selectionSet.selections.flatMap((s) => (s.kind === 'Field' ? [s.name.value] : []));
  // The errors as thrown (formatError has not run yet): a domain error's code, else GraphQL's own.
  const given = error.originalError instanceof AppError ? error.originalError.code : error.extensions?.code;
  await AuditLog.write(ctx.em.fork(), ctx.source, {
    type: 'admin.refused',
    userId: null,
    errorCode: typeof given === 'string' ? given : 'INTERNAL_SERVER_ERROR',
    details: { fields },
  });
}

/**
 * `POST /admin/graphql` (docs/admin.md): a schema of its own over the same services, for admin
 * keys only. The key (`Authorization: Bearer adm_…`) is checked before anything is parsed: no key,
 * an unknown or revoked one, or a user's access token get UNAUTHENTICATED; each key is limited per
 * minute. The same error shapes and document limits as /graphql; no landing page, no caching.
 */
export async function registerAdminApi(
  app: FastifyInstance,
  { services, em, logger }: AdminApiDeps,
): Promise<void> {
  const apollo = new ApolloServer<AdminContext>({
    schema: await buildAdminSchema(),
    // Introspection needs a key like everything else here; the schema is also committed.
    introspection: true,
    includeStacktraceInErrorResponses: false,
    csrfPrevention: true,
    allowBatchedHttpRequests: false,
    validationRules: [documentLimitRule(), queryLimitRule(), mutationLimitRule()],
    parseOptions: { maxTokens: QUERY_LIMITS.maxTokens },
    formatError: createFormatError(logger),
    // Stopped with the app (below), after /graphql's Apollo has drained the connections: no signal
    // handlers or drain of its own (its drain would close the app from inside the app's close).
    stopOnTerminationSignals: false,
    plugins: [
      ApolloServerPluginCacheControlDisabled(),
      ApolloServerPluginLandingPageDisabled(),
      {
        requestDidStart: async () => ({
          willSendResponse: async ({ response, operation, document, request, contextValue, errors }) => {
            response.http.headers.set('cache-control', 'no-store');
            // A mutation records its change with it; one refused (FORBIDDEN, bad input, or a
            // document that failed validation, before Apollo named its operation) is recorded
            // here. A document that does not parse asks nothing and is not kept.
            const asked = operation ?? (document && getOperationAST(document, request.operationName));
            if (asked?.operation === 'mutation' && errors?.length) {
              await auditRefusal(contextValue, asked, errors[0]!);
            }
          },
        }),
      },
    ],
  });
  await apollo.start();
  app.addHook('onClose', async () => {
    await apollo.stop();
  });

  const authenticate = async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers.authorization ?? '';
    const key = /^Bearer (\S+)$/i.exec(header)?.[1];
    const caller = key ? await AdminKeys.authenticate(em.fork(), key) : null;
    if (!caller) {
      return refuse(
        reply,
        401,
        new UnauthenticatedError('an admin API key is needed (Authorization: Bearer adm_…)'),
      );
    }
    try {
      await services.rateLimiter.adminKey(caller.id);
    } catch (error) {
      if (error instanceof RateLimitedError) return refuse(reply, 429, error);
      throw error;
    }
    request.adminCaller = caller;
  };

  app.route({
    method: 'POST',
    url: ADMIN_PATH,
    preHandler: authenticate,
    handler: fastifyApolloHandler(apollo, {
      context: async (request): Promise<AdminContext> => {
        const caller = request.adminCaller!;
        const client = requestClientOf(request);
        return {
          em: em.fork(),
          services,
          caller,
          source: { actor: { type: 'admin_key', id: caller.id, name: caller.name }, client },
        };
      },
    }),
  });
}
