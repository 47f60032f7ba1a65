import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify';
import pino, { type DestinationStream, type Logger } from 'pino';
import { currentRequestIdOf } from './request-id.js';

/** Marks Fastify's per-request loggers, which carry `reqId` in their own bindings already. */
const BOUND_TO_REQUEST = Symbol('bound to a request');

/** Fastify's `childLoggerFactory`: its usual request child (with `reqId`), marked as such. */
export const requestChildLogger: NonNullable<FastifyServerOptions['childLoggerFactory']> = function (
  logger,
  bindings,
  options,
) {
  const child = logger.child(bindings, options) as FastifyBaseLogger & { [BOUND_TO_REQUEST]?: true };
  child[BOUND_TO_REQUEST] = true;
  return child;
};

/**
 * Paths pino censors wherever they appear in a log object. Secrets should never be logged in the
 * first place (docs/security.md); this is the net under that rule.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  '*.secret',
  '*.appSecret',
  '*.authSecret',
  '*.session_key',
  '*.sessionKey',
  '*.access_token',
  '*.accessToken',
  '*.refresh_token',
  '*.refreshToken',
  '*.encryptedData',
  '*.js_code',
  // A login code, where an input object is logged; not `*.code`, which would hide error codes.
  'input.code',
  '*.input.code',
  'input.phoneCode',
  '*.input.phoneCode',
  '*.phoneNumber',
  '*.purePhoneNumber',
  '*.phone_info',
];

export interface LoggerOptions {
  level: string;
  /** Where lines go; stdout by default. Tests pass a capturing stream. */
  destination?: DestinationStream;
}

export function createLogger({ level, destination }: LoggerOptions): Logger {
  return pino(
    {
      level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      // Lines written while serving a request, by any logger, name it (docs/operations.md).
      mixin: (_object, _level, logger) => {
        const reqId = currentRequestIdOf();
        return reqId === undefined || (logger as { [BOUND_TO_REQUEST]?: true })[BOUND_TO_REQUEST]
          ? {}
          : { reqId };
      },
      serializers: {
        // Log the path only: query strings may carry codes, states or tokens.
        req: (req: { method: string; url: string; ip?: string; id?: string }) => ({
          id: req.id,
          method: req.method,
          path: req.url.split('?')[0],
          ip: req.ip,
        }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
        err: pino.stdSerializers.err,
      },
    },
    destination,
  );
}

export type { Logger };
