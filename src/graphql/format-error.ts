import { unwrapResolverError } from '@apollo/server/errors';
import type { GraphQLFormattedError } from 'graphql';
import type { Logger } from 'pino';
import { AppError } from '../errors.js';

/** Codes from graphql-js and Apollo that describe the client's request and are safe to show as they are. */
const CLIENT_ERROR_CODES = new Set([
  'BAD_USER_INPUT',
  'BAD_REQUEST',
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
]);

/**
 * The one place errors are shaped for GraphQL clients: a domain error (AppError) becomes its
 * message with `extensions: { code, ...details }`; request errors keep graphql-js's message and
 * code; anything else becomes INTERNAL_SERVER_ERROR with no internals. No stack trace ever leaves
 * the server.
 */
export function createFormatError(logger: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrapResolverError(error);
    const { locations, path } = formatted;
    if (original instanceof AppError) {
      return {
        message: original.message,
        locations,
        path,
        extensions: { code: original.code, ...original.details },
      };
    }
    const code = formatted.extensions?.code;
    // Apollo's own refusals of a request with an HTTP 4xx status and no code of their own (a
    // persisted query of an unsupported version, or whose sha does not match its query), which
    // Apollo would call INTERNAL_SERVER_ERROR: the client's mistake (found by `npm run fuzz`).
    const { code: ownCode, http } =
      (original as { extensions?: { code?: unknown; http?: { status?: unknown } } })?.extensions ?? {};
    if (
      ownCode === undefined &&
      typeof http?.status === 'number' &&
      http.status >= 400 &&
      http.status < 500
    ) {
      return { message: formatted.message, locations, path, extensions: { code: 'BAD_REQUEST' } };
    }
    if (typeof code === 'string' && CLIENT_ERROR_CODES.has(code)) {
      const { stacktrace: _stacktrace, ...extensions } = formatted.extensions ?? {};
      return { message: formatted.message, locations, path, extensions };
    }
    logger.error({ err: original, path }, 'unexpected error in a GraphQL operation');
    return {
      message: 'Internal server error',
      locations,
      path,
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    };
  };
}
