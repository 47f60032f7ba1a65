import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RequestClient } from '../sessions/session-device.js';

export const REQUEST_ID_HEADER = 'x-request-id';

/**
 * What a caller's (or a proxy's) request id may look like to be kept: up to 128 characters of
 * letters, digits and `. _ : = + / -` (UUIDs, hex, trace ids). Anything else is replaced, so a
 * header cannot smuggle newlines, markup or megabytes into our logs.
 */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:=+/-]{1,128}$/;

/** The id of the request being served, for log lines written outside Fastify's request logger. */
const currentRequestId = new AsyncLocalStorage<string>();

/** Fastify's `genReqId`: the caller's x-request-id when sane, else a new UUID. */
export function requestIdOf(request: IncomingMessage): string {
  const given = request.headers[REQUEST_ID_HEADER];
  return typeof given === 'string' && SANE_REQUEST_ID.test(given) ? given : randomUUID();
}

/** The client of a request as sessions and audit events record it: its address, user agent and request id. */
export const requestClientOf = (request: FastifyRequest): RequestClient => ({
  ip: request.ip,
  userAgent: request.headers['user-agent'],
  requestId: request.id,
});

/** The request id of the code running now, if it runs for a request. */
export function currentRequestIdOf(): string | undefined {
  return currentRequestId.getStore();
}

/**
 * Every answer carries its request id, and everything a request's handler runs (resolvers, WeChat
 * calls, error formatting) sees it through `currentRequestIdOf`, so services that log with the
 * process logger still write it on their lines. The store is entered at preValidation: body
 * parsing, before it, may run outside the request's async context.
 */
export function registerRequestIds(app: FastifyInstance): void {
  app.addHook('onRequest', (request, reply, done) => {
    reply.header(REQUEST_ID_HEADER, request.id);
    done();
  });
  app.addHook('preValidation', (request, _reply, done) => {
    currentRequestId.run(request.id, done);
  });
}
