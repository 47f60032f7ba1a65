import type { EntityManager } from '@mikro-orm/postgresql';
import type { FastifyRequest } from 'fastify';
import type { Authenticated } from '../accounts/session.service.js';
import type { Services } from './services.js';

/** What every resolver gets: a request-scoped EntityManager, the services and the caller. */
export interface Context {
  em: EntityManager;
  request: FastifyRequest;
  services: Services;
  /** The bearer's session: null when anonymous; throws UNAUTHENTICATED for a bad token. Memoised. */
  auth(): Promise<Authenticated | null>;
}
