import type { FastifyError, FastifyInstance } from 'fastify';
import { AppError, type ErrorCode } from '../errors.js';

/** The HTTP status of each domain error answered outside GraphQL (routes beside /graphql). */
const STATUS: Record<ErrorCode, number> = {
  BAD_USER_INPUT: 400,
  INVALID_STATE: 400,
  WECHAT_INVALID_CODE: 400,
  WECHAT_DECRYPT_FAILED: 400,
  WECHAT_SIGNATURE_MISMATCH: 400,
  UNAUTHENTICATED: 401,
  WECHAT_CODE_BLOCKED: 403,
  WECHAT_SNAPSHOT_USER: 403,
  FORBIDDEN: 403,
  IDENTITY_IN_USE: 409,
  IDENTITY_CONFLICT: 409,
  LAST_LOGIN_METHOD: 409,
  REGISTRATION_CLOSED: 403,
  USER_DISABLED: 403,
  TICKET_NOT_FOUND: 404,
  TICKET_EXPIRED: 410,
  RATE_LIMITED: 429,
  WECHAT_RATE_LIMITED: 429,
  PLATFORM_NOT_CONFIGURED: 501,
  WECHAT_CONFIG_ERROR: 502,
  WECHAT_UNAVAILABLE: 503,
};

/** One error in GraphQL's response shape, so every client parses every error the same way. */
function errorBody(message: string, extensions: Record<string, unknown>) {
  return { errors: [{ message, extensions }] };
}

/**
 * Errors raised outside GraphQL's own handling: Fastify's (body too large, not JSON, wrong content
 * type) and domain errors thrown by routes beside /graphql. Answered in GraphQL's shape with a
 * code; a 5xx is logged and says nothing of its cause.
 */
export function registerHttpErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | AppError, request, reply) => {
    if (error instanceof AppError) {
      const status = STATUS[error.code];
      if (error.code === 'RATE_LIMITED') reply.header('retry-after', String(error.details.retryAfterSeconds));
      return reply.code(status).send(errorBody(error.message, { code: error.code, ...error.details }));
    }
    const status =
      error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) {
      request.log.error({ err: error }, 'request failed');
      return reply.code(500).send(errorBody('Internal server error', { code: 'INTERNAL_SERVER_ERROR' }));
    }
    return reply
      .code(status)
      .send(errorBody(error.message, { code: status === 413 ? 'PAYLOAD_TOO_LARGE' : 'BAD_REQUEST' }));
  });
}
