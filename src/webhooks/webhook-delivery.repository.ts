import type { EntityManager } from '@mikro-orm/postgresql';
import { execute, one, sql } from '../db/sql.js';

/** A delivery claimed for one attempt. */
export interface ClaimedDelivery {
  id: string;
  messageId: string;
  endpoint: string;
  type: string;
  body: string;
  /** Including the one just claimed. */
  attempts: number;
  /** PostgreSQL's text of the time (the driver does not parse it). */
  createdAt: string;
}

/**
 * Claims due deliveries for one attempt each: a claimed row's next_attempt_at moves past the
 * attempt (its lease), so no other instance takes it while it is in flight, and a crash leaves it
 * due again once the lease lapses. SKIP LOCKED: instances claiming at once take different rows.
 * A row waits while an earlier pending row of the same user goes to the same endpoint (in flight
 * or waiting for a retry): a user's events arrive in order. A `user.merged` also waits for the
 * merged user's earlier events (related_user_id).
 */
const CLAIM = sql<'now' | 'leaseUntil' | 'limit', ClaimedDelivery>(`
with due as (
  select d.id from webhook_delivery d
   where d.state = 'pending' and d.next_attempt_at <= :now
     and not exists (
       select 1 from webhook_delivery e
        where e.state = 'pending' and e.endpoint = d.endpoint and e.id < d.id
          and (e.user_id = d.user_id or e.user_id = d.related_user_id))
   order by d.id
   limit :limit
   for update skip locked
)
update webhook_delivery w
   set next_attempt_at = :leaseUntil, attempts = w.attempts + 1
  from due
 where w.id = due.id
returning w.id, w.message_id as "messageId", w.endpoint, w.type, w.body, w.attempts, w.created_at as "createdAt"`);

const DELIVERED = sql<'id' | 'now'>(`
update webhook_delivery set state = 'delivered', delivered_at = :now, last_error = null where id = :id`);

const RETRY = sql<'id' | 'next' | 'error'>(`
update webhook_delivery set next_attempt_at = :next, last_error = :error where id = :id`);

const FAILED = sql<'id' | 'error'>(`
update webhook_delivery set state = 'failed', last_error = :error where id = :id`);

/** An attempt cut short by our own shutdown: due again now, and it does not count. */
const RELEASE = sql<'id' | 'now'>(`
update webhook_delivery set next_attempt_at = :now, attempts = attempts - 1 where id = :id`);

/** The backlog, for the metrics: an index-only count on the partial index of pending rows. */
const PENDING = sql<never, { pending: string }>(`
select count(*) as pending from webhook_delivery where state = 'pending'`);

/** The outbox's SQL (the worker's side; rows are written through the ORM by WebhookOutbox). */
export const WebhookDeliveryRepository = {
  claim(em: EntityManager, now: Date, leaseUntil: Date, limit: number): Promise<ClaimedDelivery[]> {
    return execute(em, CLAIM, { now, leaseUntil, limit });
  },
  async delivered(em: EntityManager, id: string, now: Date): Promise<void> {
    await execute(em, DELIVERED, { id, now });
  },
  async retry(em: EntityManager, id: string, next: Date, error: string): Promise<void> {
    await execute(em, RETRY, { id, next, error });
  },
  async failed(em: EntityManager, id: string, error: string): Promise<void> {
    await execute(em, FAILED, { id, error });
  },
  async release(em: EntityManager, id: string, now: Date): Promise<void> {
    await execute(em, RELEASE, { id, now });
  },
  async pending(em: EntityManager): Promise<number> {
    return Number((await one(em, PENDING, {})).pending);
  },
};
