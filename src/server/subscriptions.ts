import type { WebSocket } from '@fastify/websocket';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  getOperationAST,
  getVariableValues,
  GraphQLError,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type GraphQLFormattedError,
  type GraphQLSchema,
} from 'graphql';
import { makeHandler } from 'graphql-ws/use/@fastify/websocket';
import type { Config } from '../config.js';
import type { Context } from '../graphql/context.js';
import { createLoginMethodsLoader } from '../graphql/loaders/login-methods.loader.js';
import { mutationLimitRule } from '../graphql/mutation-limit.js';
import { documentLimitRule, QUERY_LIMITS, queryLimitRule } from '../graphql/query-limits.js';
import { RateLimitedError } from '../errors.js';
import { clientKey } from '../rate-limits/client-key.js';
import { originAllowed } from './browser-security.js';
import type { Services } from './services.js';

/** The limits of the WebSocket side of /graphql (graphql-ws; docs/api.md, "Subscriptions"). */
export const SOCKET_LIMITS = {
  /** Open sockets per client IP (an IPv6 client: per network, as the rate limits count). */
  perIp: 50,
  /** Subscriptions at once on one socket. */
  subscriptionsPerSocket: 10,
  /** A socket with no subscription this long is closed. */
  idleMs: 60_000,
  /** The largest message a client may send (a subscribe message: its document and variables). */
  maxPayloadBytes: 64 * 1024,
  /** A client must send its ConnectionInit within this time of connecting. */
  initTimeoutMs: 5_000,
  /** Keep-alive ping interval; a peer that does not answer one is closed. */
  keepAliveMs: 15_000,
  /** Messages a socket may send per second, on average, and at once. */
  messagesPerSecond: 5,
  messageBurst: 20,
};

const tooMany = () =>
  new GraphQLError(`At most ${SOCKET_LIMITS.subscriptionsPerSocket} subscriptions per socket`, {
    extensions: { code: 'RATE_LIMITED', retryAfterSeconds: 1 },
  });

/** The same rules as /graphql's (src/server/graphql.ts), after graphql-js's own. */
const RULES = [
  ...specifiedRules,
  documentLimitRule(),
  queryLimitRule(undefined, undefined, undefined, true),
  mutationLimitRule(),
];

/** A graphql-js error with the code Apollo gives the same error on the HTTP side. */
const coded = (error: GraphQLError, code: string) =>
  new GraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    extensions: { ...error.extensions, code },
  });

/**
 * Documents that passed validation, by their text: the pages of a site send the same few, so each
 * is parsed and validated once and one copy is shared by every subscription that runs it. Bounded
 * in entries (the oldest goes first) and in the size of a text kept.
 */
class DocumentCache {
  private readonly entries = new Map<string, DocumentNode>();

  constructor(
    private readonly maxEntries = 100,
    private readonly maxTextLength = 4096,
  ) {}

  get(text: string): DocumentNode | undefined {
    const document = this.entries.get(text);
    if (document) {
      // Most recently used last.
      this.entries.delete(text);
      this.entries.set(text, document);
    }
    return document;
  }

  set(text: string, document: DocumentNode): void {
    if (text.length > this.maxTextLength) return;
    this.entries.set(text, document);
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }
}

export interface SubscriptionDeps {
  config: Config;
  schema: GraphQLSchema;
  services: Services;
  /** The ORM's global entity manager: subscriptions read through it (single statements, no unit of work). */
  em: EntityManager;
  /** The same shaping of errors as /graphql's. */
  formatError: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
}

/** What the socket side keeps per socket: its open subscriptions and its idle timer. */
interface SocketState {
  /** The streams of this socket that have not ended (counted by the streams themselves). */
  live: number;
  idle: NodeJS.Timeout | undefined;
  /** Aborted when the socket closes: every stream of it ends then. */
  closed: AbortController;
  /** Messages it may still send now (a token bucket: SOCKET_LIMITS.messagesPerSecond, refilled). */
  tokens: number;
  refilledAt: number;
}

/**
 * graphql-ws on `/graphql` (login tickets' `loginTicket` subscription): the same schema as the
 * HTTP side, subscriptions only (queries and mutations go over HTTP, with Apollo's CSRF
 * prevention, metrics and limits), the same document limits and error shapes. Before the upgrade:
 * a browser's Origin must be one CORS allows, and an IP may hold SOCKET_LIMITS.perIp sockets.
 * After: ConnectionInit within a few seconds, a bounded message size and number of
 * subscriptions, keep-alive pings, and a socket idle for a minute closed.
 */
export function subscriptionRoute({ config, schema, services, em, formatError }: SubscriptionDeps) {
  const perIp = new Map<string, number>();
  const documents = new DocumentCache();
  const sockets = new WeakMap<WebSocket, SocketState>();
  const keyOf = (request: FastifyRequest) => clientKey(request.ip, config.rateLimit.ipv6Prefix);

  const arm = (socket: WebSocket, state: SocketState) => {
    clearTimeout(state.idle);
    state.idle = undefined;
    if (state.live > 0) return;
    state.idle = setTimeout(() => socket.close(1000, 'idle'), SOCKET_LIMITS.idleMs);
    state.idle.unref();
  };
  /** Errors of the execution (a resolver's, with its path): shaped as /graphql shapes them. */
  const format = (errors: readonly GraphQLError[]) =>
    errors.map((error) => formatError(error.toJSON(), error));
  // Production tells a client nothing of the schema it did not ask for, as /graphql does.
  const hideSuggestions = (message: string) =>
    config.isProduction ? message.replace(/ ?Did you mean(.+?)\?$/, '') : message;
  /**
   * A refusal of onSubscribe (the document, the operation, a limit) carries the code given it
   * here and nothing of the server; anything else is shaped as /graphql shapes it.
   */
  const formatRefusals = (errors: readonly GraphQLError[]) =>
    errors.map((error) =>
      typeof error.extensions.code === 'string'
        ? {
            message: hideSuggestions(error.message),
            locations: error.locations,
            extensions: error.extensions,
          }
        : formatError(error.toJSON(), error),
    );
  const graphqlWs = makeHandler<Record<string, unknown> | undefined, { key?: string }>(
    {
      schema,
      isProd: config.isProduction,
      connectionInitWaitTimeout: SOCKET_LIMITS.initTimeoutMs,
      onSubscribe: (ctx, _id, payload) => {
        const state = sockets.get(ctx.extra.socket);
        if (!state)
          return [new GraphQLError('The socket is closing', { extensions: { code: 'BAD_REQUEST' } })];
        if (state.live >= SOCKET_LIMITS.subscriptionsPerSocket) return [tooMany()];
        let document = documents.get(payload.query);
        if (!document) {
          try {
            document = parse(payload.query, { maxTokens: QUERY_LIMITS.maxTokens });
          } catch (error) {
            return [
              coded(
                error instanceof GraphQLError ? error : new GraphQLError('Syntax error'),
                'GRAPHQL_PARSE_FAILED',
              ),
            ];
          }
          const errors = validate(schema, document, RULES);
          if (errors.length > 0) return errors.map((error) => coded(error, 'GRAPHQL_VALIDATION_FAILED'));
          documents.set(payload.query, document);
        }
        // As graphql-js picks it: the one operation, or the one operationName names.
        const operation = getOperationAST(document, payload.operationName);
        if (!operation) {
          return [
            new GraphQLError('Name the operation to run with operationName (one of the document’s)', {
              extensions: { code: 'BAD_REQUEST' },
            }),
          ];
        }
        if (operation.operation !== 'subscription') {
          return [
            new GraphQLError('Only subscriptions go over WebSocket: send queries and mutations with POST', {
              extensions: { code: 'BAD_REQUEST' },
            }),
          ];
        }
        // The variables checked here, as Apollo checks them over HTTP: a wrong one is the client's
        // BAD_USER_INPUT, never an execution error (nor a log line with its value).
        const variables = getVariableValues(
          schema,
          operation.variableDefinitions ?? [],
          payload.variables ?? {},
          {
            maxErrors: 5,
          },
        );
        if (variables.errors) return variables.errors.map((error) => coded(error, 'BAD_USER_INPUT'));
        const { socket } = ctx.extra;
        let loginMethods: Context['loaders']['loginMethods'] | undefined;
        const contextValue: Context = {
          // The global entity manager, not a fork per subscription (a fork's identity map and unit
          // of work cost about 4 KiB each, held as long as the page waits): a subscription only
          // runs single statements outside transactions (db/sql.ts's execute), which borrow a
          // pool connection each and touch no identity map. The loader below forks its own.
          em,
          clientIp: ctx.extra.request.ip,
          // The waiting page's browser: a session handed over here is that page's.
          userAgent: ctx.extra.request.headers['user-agent'],
          // The socket's upgrade request: what its log lines carry too.
          requestId: ctx.extra.request.id,
          services,
          loaders: {
            // The session handed over with CONFIRMED is a login's answer, its user's login methods
            // included. Made on first use; that session comes once and ends the subscription, so
            // the loader's cache never outlives what it read.
            get loginMethods() {
              return (loginMethods ??= createLoginMethodsLoader(em.fork()));
            },
          },
          auth: async () => null,
          stream: {
            signal: state.closed.signal,
            admit: () => {
              if (state.live >= SOCKET_LIMITS.subscriptionsPerSocket) throw new RateLimitedError(1);
              state.live++;
              arm(socket, state);
              let ended = false;
              return () => {
                if (ended) return;
                ended = true;
                state.live--;
                arm(socket, state);
              };
            },
          },
        };
        return {
          schema,
          document,
          operationName: payload.operationName,
          variableValues: payload.variables,
          contextValue,
        };
      },
      onNext: (_ctx, _id, _payload, _args, result) =>
        result.errors ? { ...result, errors: format(result.errors) } : undefined,
      onError: (_ctx, _id, _payload, errors) => formatRefusals(errors),
    },
    SOCKET_LIMITS.keepAliveMs,
  );

  return {
    /** Refuses an upgrade before it happens: another origin, or too many sockets from this IP. */
    preValidation: async (request: FastifyRequest, reply: FastifyReply) => {
      if (!(request as FastifyRequest & { ws?: boolean }).ws) return;
      const origin = request.headers.origin;
      if (origin !== undefined && !originAllowed(config, origin)) {
        return reply
          .code(403)
          .send({ errors: [{ message: 'Origin not allowed', extensions: { code: 'FORBIDDEN' } }] });
      }
      const key = keyOf(request);
      if ((perIp.get(key) ?? 0) >= SOCKET_LIMITS.perIp) {
        return reply
          .code(429)
          .header('retry-after', '60')
          .send({ errors: [{ message: 'Too many open sockets', extensions: { code: 'RATE_LIMITED' } }] });
      }
    },
    /** The socket, once upgraded: counted against its IP until it closes. */
    wsHandler(this: FastifyInstance, socket: WebSocket, request: FastifyRequest) {
      const key = keyOf(request);
      perIp.set(key, (perIp.get(key) ?? 0) + 1);
      const state: SocketState = {
        live: 0,
        idle: undefined,
        closed: new AbortController(),
        tokens: SOCKET_LIMITS.messageBurst,
        refilledAt: performance.now(),
      };
      sockets.set(socket, state);
      arm(socket, state);
      // Before graphql-ws's own listener: a socket over its message budget is closed (4429).
      socket.on('message', () => {
        const now = performance.now();
        state.tokens = Math.min(
          SOCKET_LIMITS.messageBurst,
          state.tokens + ((now - state.refilledAt) / 1000) * SOCKET_LIMITS.messagesPerSecond,
        );
        state.refilledAt = now;
        if (--state.tokens < 0) socket.close(4429, 'Too many messages');
      });
      socket.once('close', () => {
        // Every stream of this socket ends now, whatever graphql-ws still holds of it.
        state.closed.abort();
        clearTimeout(state.idle);
        const left = (perIp.get(key) ?? 1) - 1;
        if (left > 0) perIp.set(key, left);
        else perIp.delete(key);
      });
      return graphqlWs.call(this, socket, request);
    },
    /** Sockets open now, per IP key (tests, metrics). */
    openSockets: () => [...perIp.values()].reduce((a, b) => a + b, 0),
  };
}
