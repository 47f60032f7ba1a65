import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { withClient } from '../db/pool.js';

/** What one pass deletes, and how much of it at a time. */
export interface HousekeepingSettings {
  /** Revoked sessions (with their refresh tokens) go this many days after their revocation. */
  sessionRetentionDays: number;
  /** Delivered and given-up webhook deliveries go this many days after their event was made. */
  webhookRetentionDays: number;
  /** Audit events go this many days after they happened. */
  auditRetentionDays: number;
  /** Rows per DELETE statement: each statement is its own short transaction. */
  batchSize: number;
}

export const DEFAULT_BATCH_SIZE = 5000;

/** Rows deleted by one pass, per table (refresh tokens go with their sessions, by cascade). */
export interface PruneCounts {
  session: number;
  web_login_state: number;
  rate_limit: number;
  rate_limit_bucket: number;
  webhook_delivery: number;
  login_ticket: number;
  handled_push: number;
  audit_event: number;
  oidc_payload: number;
}

/** One pass: what it deleted, or `skipped` when another process held the lock. */
export type PruneResult =
  | { skipped: false; deleted: PruneCounts; durationMs: number }
  | { skipped: true; deleted?: undefined; durationMs: number };

/**
 * The one lock every instance (and `npm run prune`) takes for a pass: a session-level advisory
 * lock, held on one connection for the pass, released at its end (or when that connection ends).
 * Single-bigint key space; the other locks of this server use other keys.
 */
export const HOUSEKEEPING_LOCK = 0x5167_486b; // "QgHk"

/**
 * A DELETE of at most `$1` rows of `table` meeting `condition`. `ctid = any(array(…))` finds
 * them once through the index of the condition; the condition is repeated outside so that a row changed meanwhile (a
 * failed delivery sent again by an operator) is re-checked under its new version, not deleted.
 * Times are the database's clock, the same for every instance.
 */
function batched(table: keyof PruneCounts, condition: string): string {
  return `delete from ${table} where ctid = any(array(
  select ctid from ${table} where ${condition} limit $1
)) and ${condition}`;
}

const DELETES: {
  table: keyof PruneCounts;
  text: string;
  /** $1 is always the batch size; $2, when used, a retention in days. */
  retention?: (settings: HousekeepingSettings) => number;
}[] = [
  {
    // Past its end no refresh token of it works; its tokens cascade (refresh_token.session_id).
    table: 'session',
    text: batched('session', 'expires_at < now()'),
  },
  {
    // Kept a while after revocation: a rotated token presented again is still recognised as reuse.
    table: 'session',
    text: batched('session', 'revoked_at < now() - make_interval(days => $2)'),
    retention: (settings) => settings.sessionRetentionDays,
  },
  {
    // A row is a used state; it must stay until the state expires, or the state could be used again.
    table: 'web_login_state',
    text: batched('web_login_state', 'expires_at < now()'),
  },
  {
    // rate-limiter-flexible's windows (expire: epoch milliseconds); one that ended more than two
    // minutes ago counts for nothing.
    table: 'rate_limit',
    text: batched('rate_limit', 'expire < (extract(epoch from now()) * 1000 - 120000)::bigint'),
  },
  {
    // The previous release's one-minute windows (kept one release for rolling upgrades).
    table: 'rate_limit_bucket',
    text: batched('rate_limit_bucket', "window_start < now() - interval '3 minutes'"),
  },
  {
    // Never a pending one: it may still be sent.
    table: 'webhook_delivery',
    text: batched(
      'webhook_delivery',
      "state <> 'pending' and created_at < now() - make_interval(days => $2)",
    ),
    retention: (settings) => settings.webhookRetentionDays,
  },
  {
    // An hour after its end: a waiting page still reads EXPIRED (not TICKET_NOT_FOUND) meanwhile.
    table: 'login_ticket',
    text: batched('login_ticket', "expires_at < now() - interval '1 hour'"),
  },
  {
    // A day after: a push older than 5 minutes is refused before its key is looked up.
    table: 'handled_push',
    text: batched('handled_push', "handled_at < now() - interval '1 day'"),
  },
  {
    // Through audit_event_occurred_at_index, oldest first.
    table: 'audit_event',
    text: batched('audit_event', 'occurred_at < now() - make_interval(days => $2)'),
    retention: (settings) => settings.auditRetentionDays,
  },
  {
    // The OpenID Connect provider's objects past their end: already gone for the provider.
    table: 'oidc_payload',
    text: batched('oidc_payload', 'expires_at < now()'),
  },
];

/**
 * Runs one pass, unless another process is running one (then `skipped`): takes the advisory lock
 * with pg_try_advisory_lock on one connection of the pool, deletes batch after batch, table after
 * table, then unlocks and gives the connection back. `signal` stops it between two batches.
 */
export async function prune(
  orm: MikroORM,
  settings: HousekeepingSettings,
  signal?: AbortSignal,
): Promise<PruneResult> {
  const started = performance.now();
  return withClient(orm.em, async (connection) => {
    const { rows } = await connection.query({
      text: 'select pg_try_advisory_lock($1) as locked',
      values: [HOUSEKEEPING_LOCK],
    });
    if ((rows as { locked: boolean }[])[0]?.locked !== true)
      return { skipped: true, durationMs: performance.now() - started };
    try {
      const deleted: PruneCounts = {
        session: 0,
        web_login_state: 0,
        rate_limit: 0,
        rate_limit_bucket: 0,
        webhook_delivery: 0,
        login_ticket: 0,
        handled_push: 0,
        audit_event: 0,
        oidc_payload: 0,
      };
      for (const { table, text, retention } of DELETES) {
        const values = retention ? [settings.batchSize, retention(settings)] : [settings.batchSize];
        for (;;) {
          if (signal?.aborted) break;
          const { rowCount } = await connection.query({ text, values });
          deleted[table] += rowCount ?? 0;
          if ((rowCount ?? 0) < settings.batchSize) break;
        }
      }
      return { skipped: false, deleted, durationMs: performance.now() - started };
    } finally {
      await connection.query({ text: 'select pg_advisory_unlock($1)', values: [HOUSEKEEPING_LOCK] });
    }
  });
}

/** Total rows a pass deleted. */
export function totalDeleted(counts: PruneCounts): number {
  return Object.values(counts).reduce((sum, n) => sum + n, 0);
}

export interface HousekeepingJobSettings extends HousekeepingSettings {
  /** Seconds between passes (0: the job never runs). */
  intervalSeconds: number;
  /** Before the first pass, after the start (ms); default: the interval, at most a minute. */
  firstDelayMs?: number;
}

/**
 * The in-process job: a pass now and then (`intervalSeconds`), on a timer that never holds up a
 * request or the process. Every instance runs it; the lock lets one pass run at a time. Each pass
 * that ran is logged at info with its counts and handed to `onPass` (for metrics).
 */
export class HousekeepingJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly stopping = new AbortController();

  constructor(
    private readonly orm: MikroORM,
    private readonly settings: HousekeepingJobSettings,
    private readonly logger: Logger,
    private readonly onPass?: (result: PruneResult) => void,
  ) {}

  start(): void {
    if (this.settings.intervalSeconds <= 0) return;
    this.schedule(this.settings.firstDelayMs ?? Math.min(this.settings.intervalSeconds, 60) * 1000);
  }

  /** Stops the timer and waits for a pass under way to end (it stops after its current batch). */
  async close(): Promise<void> {
    this.stopping.abort();
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.stopping.signal.aborted) return;
    this.timer = setTimeout(() => {
      this.running = this.runOnce().finally(() => {
        this.running = undefined;
        this.schedule(this.settings.intervalSeconds * 1000);
      });
    }, ms);
    this.timer.unref();
  }

  private async runOnce(): Promise<void> {
    try {
      const result = await prune(this.orm, this.settings, this.stopping.signal);
      if (result.skipped) {
        this.logger.debug('housekeeping: another instance is running a pass: skipped');
      } else {
        this.logger.info(
          { deleted: result.deleted, durationMs: Math.round(result.durationMs) },
          `housekeeping: deleted ${totalDeleted(result.deleted)} expired rows`,
        );
      }
      this.onPass?.(result);
    } catch (error) {
      this.logger.warn({ err: error }, 'housekeeping: the pass failed; trying again at the next one');
    }
  }
}
