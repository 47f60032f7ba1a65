import { randomUUID } from 'node:crypto';
import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/core';

/** Who did what an audit event records. */
export type AuditActorType = 'user' | 'admin_key' | 'system' | 'anonymous';

/**
 * One thing that happened to an account, written in the same transaction as the change it records
 * (src/audit/audit-log.ts; the catalogue of types is in docs/admin.md). Never a code, token,
 * secret, session key or phone number: `details` holds kinds, names of fields and counts.
 * Housekeeping deletes events older than AUDIT_RETENTION_DAYS.
 */
@Entity({ tableName: 'audit_event' })
// auditEvents pages newest first (occurred_at, id), with or without a user; pruning reads the oldest.
@Index({ name: 'audit_event_occurred_at_index', properties: ['occurredAt', 'id'] })
@Index({
  name: 'audit_event_user_index',
  expression:
    'create index "audit_event_user_index" on "audit_event" ("user_id", "occurred_at", "id") where "user_id" is not null',
})
export class AuditEvent {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @Property({ type: 'datetime' })
  occurredAt!: Date;

  /** `login.succeeded`, `user.disabled`, … (docs/admin.md, "Audit events"). */
  @Property({ type: 'text' })
  type!: string;

  /** The account it happened to; null for a failed login of nobody we know. */
  @Property({ type: 'uuid', nullable: true })
  userId: string | null = null;

  @Property({ type: 'text' })
  actorType!: AuditActorType;

  /** The user's id, or the admin key's id. */
  @Property({ type: 'text', nullable: true })
  actorId: string | null = null;

  /** The admin key's name. */
  @Property({ type: 'text', nullable: true })
  actorName: string | null = null;

  /** The WeChat identity of a login (a failed one: who WeChat said it was, if it got that far). */
  @Property({ type: 'text', nullable: true })
  appId: string | null = null;

  @Property({ type: 'text', nullable: true })
  openId: string | null = null;

  /** A failure's error code (`WECHAT_INVALID_CODE`, `USER_DISABLED`, …). */
  @Property({ type: 'text', nullable: true })
  errorCode: string | null = null;

  /** What else it takes to read the event: kinds, names of changed fields, counts; never a person's values. */
  @Property({ type: 'json', nullable: true })
  details: Record<string, unknown> | null = null;

  /** The client's network (its address cut to /24 or /48), its user agent and the request's id. */
  @Property({ type: 'text', nullable: true })
  ipPrefix: string | null = null;

  @Property({ type: 'text', nullable: true })
  userAgent: string | null = null;

  @Property({ type: 'text', nullable: true })
  requestId: string | null = null;
}
