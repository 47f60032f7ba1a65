import { Entity, Index, OptionalProps, PrimaryKey, Property } from '@mikro-orm/core';

export type DeliveryState = 'pending' | 'delivered' | 'failed';

/**
 * The outbox: one row per (event, endpoint), written in the transaction of the change it tells
 * of, sent by whichever instance claims it first (docs/webhooks.md). Its id orders a user's events.
 */
@Entity({ tableName: 'webhook_delivery' })
// The claim walks pending rows in id order: delivered and failed rows, which pile up, stay out of it.
@Index({
  name: 'webhook_delivery_due_index',
  expression:
    'create index "webhook_delivery_due_index" on "webhook_delivery" ("id") where "state" = \'pending\'',
})
@Index({
  name: 'webhook_delivery_order_index',
  expression:
    'create index "webhook_delivery_order_index" on "webhook_delivery" ("endpoint", "user_id", "id") where "state" = \'pending\'',
})
// Housekeeping deletes delivered and given-up rows some days after their event (src/housekeeping/).
@Index({
  name: 'webhook_delivery_done_created_at_index',
  expression:
    'create index "webhook_delivery_done_created_at_index" on "webhook_delivery" ("created_at") where "state" <> \'pending\'',
})
export class WebhookDelivery {
  [OptionalProps]?: 'id' | 'state' | 'attempts' | 'deliveredAt' | 'lastError' | 'relatedUserId';

  @PrimaryKey({ type: 'bigint', autoincrement: true })
  id!: string;

  /** `msg_…`: the event's id, the same for every endpoint and every attempt (`webhook-id`). */
  @Property({ type: 'text' })
  messageId!: string;

  @Property({ type: 'text' })
  endpoint!: string;

  @Property({ type: 'text' })
  type!: string;

  /** Whose event it is: a user's events reach an endpoint in order. */
  @Property({ type: 'uuid', nullable: true })
  userId!: string | null;

  /**
   * Another user whose earlier events this one waits for: the merged user of a `user.merged`, so
   * its `user.created` goes out before the merge that ends it (docs/webhooks.md, "Ordering").
   */
  @Property({ type: 'uuid', nullable: true })
  relatedUserId: string | null = null;

  /** The JSON body, fixed at the change, so every attempt sends (and signs) the same bytes. */
  @Property({ type: 'text' })
  body!: string;

  @Property({ type: 'text' })
  state: DeliveryState = 'pending';

  /** Attempts started so far. */
  @Property({ type: 'integer' })
  attempts = 0;

  /** When it may be sent next; while one is in flight, when its claim lapses. */
  @Property({ type: 'datetime' })
  nextAttemptAt!: Date;

  @Property({ type: 'datetime' })
  createdAt!: Date;

  @Property({ type: 'datetime', nullable: true })
  deliveredAt: Date | null = null;

  /** The last failure, as `HTTP 500` or a transport error's name: never a body or a header. */
  @Property({ type: 'text', nullable: true })
  lastError: string | null = null;
}
