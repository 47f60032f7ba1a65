import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { WebhookOutbox } from './outbox.js';
import { signWebhook } from './signature.js';
import { WebhookDeliveryRepository, type ClaimedDelivery } from './webhook-delivery.repository.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

export interface WebhookWorkerSettings {
  /** `whsec_…` (config.webhooks.secret). */
  secret: string;
  /** How often each instance looks for due deliveries (a commit that wrote events looks at once). */
  pollMs: number;
  /** The longest one POST may take. */
  timeoutMs: number;
  /** The wait after the nth failed attempt is the nth entry; the last one repeats. */
  retryDelaysMs: readonly number[];
  /** A delivery still failing this long after its event is given up (marked failed). */
  giveUpAfterMs: number;
  /** POSTs in flight at once per instance. */
  maxInFlight: number;
}

/** The schedule of docs/webhooks.md, "Retries": 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, then every 3 h for a day. */
export const DEFAULT_WEBHOOK_SETTINGS: Omit<WebhookWorkerSettings, 'secret'> = {
  pollMs: 1000,
  timeoutMs: 10_000,
  retryDelaysMs: [5_000, 30_000, 2 * MINUTE, 10 * MINUTE, 30 * MINUTE, HOUR, 3 * HOUR],
  giveUpAfterMs: 24 * HOUR,
  maxInFlight: 32,
};

/** What one attempt came to, for the metrics (an attempt cut short by our shutdown is none). */
export type DeliveryOutcome = 'delivered' | 'retried' | 'failed';

/** A claim lasts this much longer than the POST may: then another instance may try again. */
const LEASE_MARGIN_MS = 30_000;

/** Where a delivery goes, for the log: the host alone (a path or query may carry a token). */
function hostOf(endpoint: string): string {
  return new URL(endpoint).host;
}

/**
 * Sends the outbox, in every instance: a timer loop (every pollMs, and at once after a commit of
 * this process that wrote events, or when an attempt ends) claims due deliveries and POSTs them
 * with Standard Webhooks headers. At least once: a delivery is marked sent only after a 2xx.
 */
export class WebhookWorker {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** Something may be due: look again as soon as this look is done. */
  private wanted = false;
  private closed = false;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly stopping = new AbortController();

  constructor(
    private readonly orm: MikroORM,
    private readonly outbox: WebhookOutbox,
    private readonly settings: WebhookWorkerSettings,
    private readonly logger: Logger,
    /** Told of every attempt's outcome once it is recorded (the metrics). */
    private readonly onOutcome: (outcome: DeliveryOutcome) => void = () => undefined,
  ) {}

  /** Starts the loop, and looks at once after every commit that follows an emit in this process. */
  start(): void {
    this.orm.em.getEventManager().registerSubscriber({
      afterTransactionCommit: () => {
        if (this.outbox.takeWritten()) this.nudge();
      },
    });
    this.schedule(0);
  }

  /** Looks for due deliveries now (or right after the look under way). */
  nudge(): void {
    this.wanted = true;
    if (!this.running) this.schedule(0);
  }

  /**
   * Stops the loop and cuts short the POSTs in flight: they are due again at once, for this
   * instance's next start or another instance (at least once: the endpoint may have got them).
   */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.stopping.abort();
    await this.running;
    await Promise.all(this.inFlight);
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running ??= this.run().finally(() => {
        this.running = undefined;
        this.schedule(this.wanted ? 0 : this.settings.pollMs);
      });
    }, ms);
    this.timer.unref();
  }

  private async run(): Promise<void> {
    try {
      do {
        this.wanted = false;
        await this.claimAndSend();
      } while (this.wanted && !this.closed);
    } catch (error) {
      this.logger.warn({ err: error }, 'webhooks: could not claim deliveries');
    }
  }

  private async claimAndSend(): Promise<void> {
    const room = this.settings.maxInFlight - this.inFlight.size;
    if (room <= 0 || this.closed) return;
    const now = new Date();
    const leaseUntil = new Date(now.getTime() + this.settings.timeoutMs + LEASE_MARGIN_MS);
    const claimed = await WebhookDeliveryRepository.claim(this.orm.em.fork(), now, leaseUntil, room);
    for (const delivery of claimed) {
      const attempt: Promise<void> = this.attempt(delivery)
        .catch((error: unknown) =>
          this.logger.warn(
            { err: error, messageId: delivery.messageId },
            'webhooks: could not record an attempt',
          ),
        )
        .finally(() => {
          this.inFlight.delete(attempt);
          // It may have been what held back the user's next event.
          if (!this.closed) this.nudge();
        });
      this.inFlight.add(attempt);
    }
    if (claimed.length === room) this.wanted = true;
  }

  /** One POST and its outcome recorded: delivered, due again later, or given up. */
  private async attempt(delivery: ClaimedDelivery): Promise<void> {
    const em = this.orm.em.fork();
    const failure = await this.post(delivery);
    const now = new Date();
    if (failure === undefined) {
      await WebhookDeliveryRepository.delivered(em, delivery.id, now);
      this.onOutcome('delivered');
      return;
    }
    if (failure === 'shutdown') {
      await WebhookDeliveryRepository.release(em, delivery.id, now);
      return;
    }
    const log = {
      messageId: delivery.messageId,
      type: delivery.type,
      endpoint: hostOf(delivery.endpoint),
      attempts: delivery.attempts,
      error: failure,
    };
    if (now.getTime() - new Date(delivery.createdAt).getTime() >= this.settings.giveUpAfterMs) {
      await WebhookDeliveryRepository.failed(em, delivery.id, failure);
      this.onOutcome('failed');
      this.logger.warn(log, 'webhooks: endpoint kept failing: delivery given up');
      return;
    }
    const delays = this.settings.retryDelaysMs;
    const delay = delays[Math.min(delivery.attempts, delays.length) - 1] ?? this.settings.pollMs;
    await WebhookDeliveryRepository.retry(em, delivery.id, new Date(now.getTime() + delay), failure);
    this.onOutcome('retried');
    this.logger.info({ ...log, retryInMs: delay }, 'webhooks: delivery failed, will retry');
  }

  /** The POST: undefined on a 2xx, else what went wrong (`HTTP 500`, `timeout`, …), or 'shutdown'. */
  private async post(delivery: ClaimedDelivery): Promise<string | undefined> {
    const timestamp = Math.floor(Date.now() / 1000);
    try {
      const response = await fetch(delivery.endpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'wechat-login-server-webhooks',
          'webhook-id': delivery.messageId,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signWebhook(
            this.settings.secret,
            delivery.messageId,
            timestamp,
            delivery.body,
          ),
        },
        body: delivery.body,
        redirect: 'manual',
        signal: AbortSignal.any([AbortSignal.timeout(this.settings.timeoutMs), this.stopping.signal]),
      });
      await response.body?.cancel().catch(() => undefined);
      return response.status >= 200 && response.status < 300 ? undefined : `HTTP ${response.status}`;
    } catch (error) {
      if (this.stopping.signal.aborted) return 'shutdown';
      if (error instanceof Error && error.name === 'TimeoutError') return 'timeout';
      const code = (error as { cause?: { code?: unknown } }).cause?.code;
      return typeof code === 'string' ? code : 'connection failed';
    }
  }
}
