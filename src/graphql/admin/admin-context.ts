import type { EntityManager } from '@mikro-orm/postgresql';
import type { AdminCaller } from '../../admin/admin-keys.js';
import type { AuditSource } from '../../audit/audit-log.js';
import { AppError } from '../../errors.js';
import type { Services } from '../../server/services.js';

/** What every admin resolver gets: a request-scoped EntityManager, the services and the key's holder. */
export interface AdminContext {
  em: EntityManager;
  services: Services;
  /** The admin key of this request (checked before anything runs: src/server/admin-api.ts). */
  caller: AdminCaller;
  /** The key and the request's client, as the audit log records every admin call. */
  source: AuditSource;
}

/** Mutations need a write key; a read key gets FORBIDDEN. */
export function requireWrite(ctx: AdminContext): void {
  if (ctx.caller.scope !== 'write') {
    throw new AppError('FORBIDDEN', 'this admin key may only read (its scope is read): use a write key');
  }
}
