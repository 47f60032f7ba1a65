import type { EntityManager } from '@mikro-orm/postgresql';
import type { AuditSource } from '../audit/audit-log.js';
import type DataLoader from 'dataloader';
import type { FastifyRequest } from 'fastify';
import type { UserLoginMethod } from '../identity/user-login-method.entity.js';
import type { Services } from '../server/services.js';
import type { RequestClient } from '../sessions/session-device.js';
import type { Authenticated } from '../sessions/session.service.js';
import { createLoginMethodsLoader } from './loaders/login-methods.loader.js';

/** What every resolver gets: a request-scoped EntityManager, the services, loaders and the caller. */
export interface Context {
  em: EntityManager;
  /** The client's address (behind a proxy: per TRUST_PROXY), for rate limits. */
  clientIp: string;
  /** The client's User-Agent header, for the session a login or refresh records (sessionDevice). */
  userAgent: string | undefined;
  /** The request's id (x-request-id), for the audit log. */
  requestId: string;
  services: Services;
  loaders: { loginMethods: DataLoader<string, UserLoginMethod[]> };
  /** The bearer's session: null when anonymous; throws UNAUTHENTICATED for a bad token. Memoised. */
  auth(): Promise<Authenticated | null>;
  /**
   * A subscription's ties to its socket (src/server/subscriptions.ts): aborted when the socket
   * closes; `admit()` counts a new stream (RATE_LIMITED past the socket's limit) and returns what
   * ends its count. Absent over HTTP.
   */
  stream?: { signal: AbortSignal; admit(): () => void };
}

/** The context of one GraphQL request. */
export function createContext(em: EntityManager, request: FastifyRequest, services: Services): Context {
  let auth: Promise<Authenticated | null> | undefined;
  let loginMethods: Context['loaders']['loginMethods'] | undefined;
  return {
    em,
    clientIp: request.ip,
    userAgent: request.headers['user-agent'],
    requestId: request.id,
    services,
    loaders: {
      // Made on first use: most operations never ask for login methods.
      get loginMethods() {
        return (loginMethods ??= createLoginMethodsLoader(em));
      },
    },
    auth: () => (auth ??= services.sessions.authenticate(em, request.headers.authorization)),
  };
}

/** The signed-in person acting through this request, as the audit log records them. */
export const byUser = (ctx: Context, auth: { userId: string }): AuditSource & { client: RequestClient } => ({
  actor: { type: 'user', id: auth.userId },
  client: requestClient(ctx),
});

/** The client of this request, as a session it opens or refreshes records it. */
export const requestClient = (ctx: Context): RequestClient => ({
  ip: ctx.clientIp,
  userAgent: ctx.userAgent,
  requestId: ctx.requestId,
});
