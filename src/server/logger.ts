import { DriverException } from '@mikro-orm/core';
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
  '*.authSecretPrevious',
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

/** PostgreSQL's fields of an error that name things (SQLSTATE, constraint, table…), never values. */
const DATABASE_ERROR_FIELDS = ['code', 'severity', 'routine', 'constraint', 'table', 'column', 'dataType'];

/** A database error, from the ORM or the driver: PostgreSQL's fields are on it. */
function isDatabaseError(err: unknown): err is Error & Record<string, unknown> {
  return (
    err instanceof DriverException ||
    (err instanceof Error &&
      typeof (err as { severity?: unknown }).severity === 'string' &&
      typeof (err as { code?: unknown }).code === 'string')
  );
}

/**
 * A database error without what carries values: knex writes the failed statement into the message
 * with its values inlined (phone numbers, openids, sealed secrets), and PostgreSQL's message,
 * `detail` and `where` may quote them. Kept: the class, the SQLSTATE and what it names, the frames.
 */
function databaseError(err: Error & Record<string, unknown>) {
  const frames = (err.stack ?? '').split('\n').filter((line) => line.trim().startsWith('at '));
  const fields = DATABASE_ERROR_FIELDS.filter((key) => typeof err[key] === 'string');
  return {
    type: err.name,
    message: `database error${typeof err.code === 'string' ? ` ${err.code}` : ''} (statement and values not logged)`,
    stack: [`${err.name}: statement and values not logged`, ...frames].join('\n'),
    ...Object.fromEntries(fields.map((key) => [key, err[key]])),
  };
}

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
        err: (err: unknown) =>
          isDatabaseError(err) ? databaseError(err) : pino.stdSerializers.err(err as Error),
      },
    },
    destination,
  );
}

export type { Logger };
