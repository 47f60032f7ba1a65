/** Every event a webhook endpoint may receive (docs/webhooks.md, "Events"). */
export type WebhookEventType =
  | 'user.created'
  | 'user.updated'
  | 'user.merged'
  | 'user.deleted'
  | 'login_method.linked'
  | 'login_method.unlinked';

/**
 * An event's data: ids and the names of what changed, never a phone number or a secret. `userId`
 * is the user whose events it orders (docs/webhooks.md, "Ordering").
 */
export interface WebhookEventData {
  userId: string;
  [field: string]: unknown;
}

/** What an endpoint receives, as JSON. */
export interface WebhookBody {
  type: WebhookEventType;
  /** When the change was made (ISO 8601). */
  timestamp: string;
  data: WebhookEventData;
}
