import type { EntityManager } from '@mikro-orm/postgresql';
import type { FastifyRequest } from 'fastify';

/** What every resolver gets: a request-scoped EntityManager and the HTTP request. */
export interface Context {
  em: EntityManager;
  request: FastifyRequest;
}
