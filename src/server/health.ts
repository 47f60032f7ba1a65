import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Database } from '../db/database.js';

/** Whether this instance wants traffic: false from the moment it begins to shut down. */
export interface Readiness {
  draining: boolean;
}

/** The longest /readyz waits for the database before answering 503. */
const READINESS_TIMEOUT_MS = 2000;

/**
 * The probes, /livez and /readyz (/healthz, its alias), and what the server says while it stops:
 * from the app's close on (preClose), /readyz answers 503 and every answer still in flight tells
 * its client to close the connection, so a keep-alive client cannot hold the server open after its
 * last answer. Hooks on the app itself: they apply to every route.
 */
export function registerHealth(
  app: FastifyInstance,
  { database, readiness }: { database: Database; readiness: Readiness },
): void {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });

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
}
