import type { EntityManager } from '@mikro-orm/postgresql';
import { execute, sql } from '../db/sql.js';
import { sessionDevice, type RequestClient } from '../sessions/session-device.js';
import { AuditEvent, type AuditActorType } from './audit-event.entity.js';

/** Who acted: the person (their user id), an admin key (id and name), the server itself, or nobody known. */
export type AuditActor =
  | { type: 'user'; id: string }
  | { type: 'admin_key'; id: string; name: string }
  | { type: 'system' }
  | { type: 'anonymous' };

/** Every type of audit event (docs/admin.md, "Audit events"). */
export const AUDIT_TYPES = [
  'login.succeeded',
  'login.failed',
  'session.refresh_token_reused',
  'session.revoked',
  'sessions.revoked',
  'account.linked',
  'account.merged',
  'account.unlinked',
  'account.deleted',
  'profile.updated',
  'phone_number.updated',
  'user.disabled',
  'user.enabled',
  'admin.read',
  'admin.refused',
] as const;

export type AuditType = (typeof AUDIT_TYPES)[number];

/** Where an event came from: the actor and, for a request, its client (address, user agent, request id). */
export interface AuditSource {
  actor: AuditActor;
  client?: RequestClient;
}

/** What one event says beyond its source. */
export interface AuditRecord {
  type: AuditType;
  userId: string | null;
  appId?: string | null;
  openId?: string | null;
  errorCode?: string | null;
  details?: Record<string, unknown> | null;
}

/** The server's own doing (housekeeping, a WeChat push): no client. */
export const SYSTEM: AuditSource = { actor: { type: 'system' } };

/** An event's row values, made once for each way of writing it. */
function rowOf(source: AuditSource, record: AuditRecord, now: Date) {
  const actor = source.actor;
  const device = source.client ? sessionDevice(source.client) : { ipPrefix: null, userAgent: null };
  return {
    occurredAt: now,
    type: record.type,
    userId: record.userId,
    actorType: actor.type as AuditActorType,
    actorId: actor.type === 'user' || actor.type === 'admin_key' ? actor.id : null,
    actorName: actor.type === 'admin_key' ? actor.name : null,
    appId: record.appId ?? null,
    openId: record.openId ?? null,
    errorCode: record.errorCode ?? null,
    details: record.details ?? null,
    ipPrefix: device.ipPrefix,
    userAgent: device.userAgent,
    requestId: source.client?.requestId ?? null,
  };
}

const INSERT = sql<
  | 'occurredAt'
  | 'type'
  | 'userId'
  | 'actorType'
  | 'actorId'
  | 'actorName'
  | 'appId'
  | 'openId'
  | 'errorCode'
  | 'details'
  | 'ipPrefix'
  | 'userAgent'
  | 'requestId'
>(`
insert into audit_event (id, occurred_at, type, user_id, actor_type, actor_id, actor_name, app_id, open_id,
                         error_code, details, ip_prefix, user_agent, request_id)
values (gen_random_uuid(), :occurredAt, :type, :userId, :actorType, :actorId, :actorName, :appId, :openId,
        :errorCode, :details::jsonb, :ipPrefix, :userAgent, :requestId)`);

/** The parameters auditLoginInsert takes, beside :now, :ipPrefix and :userAgent (the session's). */
export type AuditLoginParams = 'requestId' | 'auditDetails';

/** The parameters auditInsert takes beside :now: the client's (AuditLog.clientParams). */
export type AuditClientParams = 'ipPrefix' | 'userAgent' | 'requestId';

/**
 * An INSERT of one audit event for each row of `source`, for a statement that records what it
 * changes itself (a CTE's body, or the statement's last part). The values are SQL expressions over
 * `source`; the client comes from :ipPrefix, :userAgent and :requestId, the time from :now.
 */
export const auditInsert = (
  source: string,
  event: {
    type: AuditType;
    userId: string;
    actorType: AuditActorType;
    actorId: string;
    appId?: string;
    openId?: string;
    details: string;
  },
) => `insert into audit_event (id, occurred_at, type, user_id, actor_type, actor_id, app_id, open_id, details,
                           ip_prefix, user_agent, request_id)
  select gen_random_uuid(), :now, '${event.type}', ${event.userId}, '${event.actorType}', ${event.actorId},
         ${event.appId ?? 'null'}, ${event.openId ?? 'null'}, ${event.details}, :ipPrefix, :userAgent, :requestId
    from ${source}`;

/**
 * The CTE `a` that records a login in a one-statement login (RETURNING_LOGIN, NEW_USER_LOGIN, a
 * ticket's HAND_OVER): a `login.succeeded` event for each row of `source` (its `user_id`), with
 * the identity `appId` and `openId` (SQL expressions), the session's client (:ipPrefix,
 * :userAgent), :requestId and :auditDetails (JSON).
 */
export const auditLoginInsert = (source: string, appId: string, openId: string) => `a as (
  ${auditInsert(source, {
    type: 'login.succeeded',
    userId: `${source}.user_id`,
    actorType: 'user',
    actorId: `${source}.user_id::text`,
    appId,
    openId,
    details: ':auditDetails::jsonb',
  })}
)`;

/**
 * The audit log: events written with the change they record, through the caller's transaction
 * (record), or on their own where nothing else is written (write: a failed login).
 */
export const AuditLog = {
  /** Queues an event in the caller's unit of work: it commits or rolls back with the change. */
  record(em: EntityManager, source: AuditSource, record: AuditRecord, now = new Date()): void {
    em.create(AuditEvent, rowOf(source, record, now));
  },

  /** Writes an event now, in one statement (in the caller's transaction if there is one). */
  async write(em: EntityManager, source: AuditSource, record: AuditRecord, now = new Date()): Promise<void> {
    const row = rowOf(source, record, now);
    await execute(em, INSERT, { ...row, details: row.details && JSON.stringify(row.details) });
  },

  /** The client's parameters of auditInsert. */
  clientParams(client: RequestClient): Record<AuditClientParams, unknown> {
    return { ...sessionDevice(client), requestId: client.requestId ?? null };
  },

  /** The parameters of auditLoginInsert. */
  loginParams(client: RequestClient, details: Record<string, unknown>): Record<AuditLoginParams, unknown> {
    return { requestId: client.requestId ?? null, auditDetails: JSON.stringify(details) };
  },
};
