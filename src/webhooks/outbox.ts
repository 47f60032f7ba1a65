import { randomBytes } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { WebhookDelivery } from './webhook-delivery.entity.js';
import type { WebhookBody, WebhookEventData, WebhookEventType } from './webhook-events.js';

/** A Standard Webhooks message id: `msg_` and 128 random bits. */
export function newMessageId(): string {
  return `msg_${randomBytes(16).toString('base64url')}`;
}

/**
 * Writes events to the outbox: one row per endpoint, through the caller's entity manager, so
 * they commit or roll back with the change they tell of. Nothing is written when no endpoint is
 * configured.
 */
export class WebhookOutbox {
  /** True from an emit until the next commit anywhere in this process: worth a nudge then. */
  private written = false;

  constructor(private readonly endpoints: readonly string[]) {}

  /**
   * Queues an event for every endpoint; sent once the caller's transaction commits. `em` must be
   * the transaction's entity manager (it flushes the rows at commit). `after`: another user whose
   * earlier events go out first (the merged user of a `user.merged`).
   */
  emit(
    em: EntityManager,
    type: WebhookEventType,
    data: WebhookEventData,
    now = new Date(),
    after: string | null = null,
  ): void {
    const event = this.prepare(type, data, now);
    if (!event) return;
    for (const endpoint of event.endpoints) {
      em.create(WebhookDelivery, {
        messageId: event.messageId,
        endpoint,
        type,
        userId: data.userId,
        relatedUserId: after,
        body: event.body,
        nextAttemptAt: now,
        createdAt: now,
      });
    }
  }

  /**
   * The same event for a caller that writes the outbox rows with its own SQL (the one-statement
   * first login): its message id, body and endpoints, or null when no endpoint is configured.
   */
  prepare(
    type: WebhookEventType,
    data: WebhookEventData,
    now = new Date(),
  ): { messageId: string; body: string; endpoints: readonly string[] } | null {
    if (this.endpoints.length === 0) return null;
    const body: WebhookBody = { type, timestamp: now.toISOString(), data };
    this.written = true;
    return { messageId: newMessageId(), body: JSON.stringify(body), endpoints: this.endpoints };
  }

  /** Whether an emit happened since the last call (the delivery worker asks after each commit). */
  takeWritten(): boolean {
    const written = this.written;
    this.written = false;
    return written;
  }
}
