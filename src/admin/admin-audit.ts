import type { EntityManager } from '@mikro-orm/postgresql';
import type { AuditActorType } from '../audit/audit-event.entity.js';
import { execute, sql } from '../db/sql.js';
import { dated, type PagePosition, type Row } from './admin-users.js';

/** An audit event as the admin API shows it (the row as written: src/audit/audit-log.ts). */
export interface AdminAuditEventRow {
  id: string;
  occurredAt: Date;
  type: string;
  userId: string | null;
  actorType: AuditActorType;
  actorId: string | null;
  actorName: string | null;
  appId: string | null;
  openId: string | null;
  errorCode: string | null;
  details: Record<string, unknown> | null;
  ipPrefix: string | null;
  userAgent: string | null;
  requestId: string | null;
  /** Where this event stands in `auditEvents`' order: its time as PostgreSQL writes it (microseconds). */
  positionAt: string;
}

/** What `auditEvents` may be narrowed by; each given field must match. */
export interface AdminAuditFilter {
  userId?: string | null;
  type?: string | null;
  /** Events at or after this time. */
  since?: Date | null;
  /** Events before this time. */
  until?: Date | null;
}

const COLUMNS = `id, occurred_at as "occurredAt", occurred_at::text as "positionAt", type, user_id as "userId",
  actor_type as "actorType", actor_id as "actorId", actor_name as "actorName", app_id as "appId",
  open_id as "openId", error_code as "errorCode", details, ip_prefix as "ipPrefix",
  user_agent as "userAgent", request_id as "requestId"`;

type Params = 'afterAt' | 'afterId' | 'type' | 'since' | 'until' | 'limit';

/**
 * One upper bound, (time, id), where the index scan starts: before the cursor's event, or before
 * `until` (the smallest id: nothing at `until` itself) when that is not later, or from the newest.
 * Written as one row comparison, never `:x is null or …`: a prepared statement's generic plan
 * could not start the scan at an optional bound, and each page would read every newer event.
 * `since` is the scan's end; `type` is checked on the events read.
 */
const CONDITIONS = `(occurred_at, id) < (
       least(coalesce(:afterAt::timestamptz, 'infinity'), coalesce(:until::timestamptz, 'infinity')),
       case when :until::timestamptz <= coalesce(:afterAt::timestamptz, 'infinity')
            then '00000000-0000-0000-0000-000000000000'::uuid
            else coalesce(:afterId::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid) end)
   and occurred_at >= coalesce(:since::timestamptz, '-infinity')
   and (:type::text is null or type = :type::text)`;

/**
 * Newest first (time, then id, both descending), each page starting before the last one's
 * position: an event written meanwhile is newer than the first page and never lands in a later
 * one. Read backwards along audit_event_occurred_at_index.
 */
const EVENTS = sql<Params, Row<AdminAuditEventRow>>(`
select ${COLUMNS} from audit_event
 where ${CONDITIONS}
 order by occurred_at desc, id desc
 limit :limit`);

/** One user's events, the same order, along the partial audit_event_user_index. */
const USER_EVENTS = sql<Params | 'userId', Row<AdminAuditEventRow>>(`
select ${COLUMNS} from audit_event
 where user_id is not null and user_id = :userId::uuid
   and ${CONDITIONS}
 order by user_id, occurred_at desc, id desc
 limit :limit`);

/** The SQL of the admin API's `auditEvents`. */
export const AdminAudit = {
  /** Up to `limit` events before `after`, newest first. */
  async page(
    em: EntityManager,
    filter: AdminAuditFilter,
    after: PagePosition | null,
    limit: number,
  ): Promise<AdminAuditEventRow[]> {
    const params = {
      afterAt: after?.at ?? null,
      afterId: after?.id ?? null,
      type: filter.type ?? null,
      since: filter.since ?? null,
      until: filter.until ?? null,
      limit,
    };
    const rows = filter.userId
      ? await execute(em, USER_EVENTS, { ...params, userId: filter.userId })
      : await execute(em, EVENTS, params);
    return rows.map((row) => dated<AdminAuditEventRow>(em, row, ['occurredAt']));
  },
};
