import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import { TICKET_CHANNEL } from './login-ticket.repository.js';

/** After the LISTEN connection is lost, the first retry waits this long; then twice as long, up to MAX. */
const RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;
/** How long a probe announcement may take to come back before LISTEN is taken for not working. */
const PROBE_MS = 2_000;
const PROBE_PREFIX = 'probe:';
/** While listening, a probe this often: a silent connection is taken for lost. */
const PROBE_EVERY_MS = 60_000;
/** After this many probes in a row unheard, LISTEN is tried again only every GIVE_UP_RETRY_MS. */
const MAX_UNHEARD = 3;
const GIVE_UP_RETRY_MS = 5 * 60_000;

/**
 * Wakes the subscriptions of this process waiting on a ticket when the ticket changes, on this
 * instance or any other. Each move of a ticket is announced with `pg_notify` in its own statement
 * (delivered at commit) and woken here at once as well; a dedicated connection LISTENs for the
 * other instances' announcements and reconnects after it is lost (a database restart), waking
 * every waiter then (what changed meanwhile was not heard). After each LISTEN, an announcement
 * sent through the ORM's pool (another connection) must come back within PROBE_MS: where it does
 * not (a pooler in transaction mode, which hands a LISTEN and a NOTIFY to different server
 * sessions; the embedded database's shared session; a pool too busy to announce in time), the
 * connection is closed and tried again with the backoff, then, after MAX_UNHEARD tries, every few
 * minutes. While listening, a probe every minute catches a connection gone silent. Without it a
 * waiter still re-reads its ticket every few seconds (LoginTickets.watch), and polling
 * `loginTicket` always works.
 */
export class TicketWakeups {
  private readonly waiters = new Map<string, Set<() => void>>();
  private client: pg.Client | undefined;
  private retryMs = RETRY_MS;
  private retryTimer: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  /** Probes in a row that did not come back. */
  private unheard = 0;
  private closed = false;
  /** True while the LISTEN connection is up (the metrics and tests read it). */
  listening = false;

  private probing: { token: string; heard: () => void } | undefined;

  /** `announce(payload)`: pg_notify on the ticket channel through another connection (the pool). */
  constructor(
    private readonly logger: Logger,
    private readonly announce: (payload: string) => Promise<unknown>,
  ) {}

  /** Calls `wake` whenever ticket `id` may have changed, until the returned function is called. */
  wait(id: string, wake: () => void): () => void {
    let set = this.waiters.get(id);
    if (!set) this.waiters.set(id, (set = new Set()));
    set.add(wake);
    return () => {
      set.delete(wake);
      if (set.size === 0 && this.waiters.get(id) === set) this.waiters.delete(id);
    };
  }

  /** The waiters of this process on ticket `id`. */
  wake(id: string): void {
    for (const wake of this.waiters.get(id) ?? []) wake();
  }

  /** Starts listening on a connection of its own to this database URL (a real server only). */
  listen(url: string): void {
    if (this.closed || this.client) return;
    const client = new pg.Client({
      connectionString: url,
      keepAlive: true,
      // A connection that went silent (a NAT's timeout, a failover without a reset) is noticed by
      // TCP within a minute or so, and by the periodic probe below within PROBE_EVERY_MS.
      keepAliveInitialDelayMillis: 10_000,
    });
    this.client = client;
    /** Ends this connection and tries again in `delayMs` (the backoff by default). */
    const lost = (reason: string, delayMs?: number) => {
      if (this.client !== client) return;
      this.client = undefined;
      this.listening = false;
      clearInterval(this.probeTimer);
      client.removeAllListeners('notification');
      client.on('error', () => {});
      client.end().catch(() => {});
      if (this.closed) return;
      const retryInMs = delayMs ?? this.retryMs;
      this.logger.warn(
        { reason, retryInMs },
        'login tickets: no LISTEN connection; trying again (meanwhile waiting pages re-read every 3 s)',
      );
      this.retryTimer = setTimeout(() => this.listen(url), retryInMs);
      this.retryTimer.unref();
      if (delayMs === undefined) this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
    };
    client.on('error', (error: Error) => lost(error.message));
    client.on('end', () => lost('the connection ended'));
    client.on('notification', (message) => {
      if (message.channel !== TICKET_CHANNEL || !message.payload) return;
      if (message.payload.startsWith(PROBE_PREFIX)) {
        if (this.probing?.token === message.payload) this.probing.heard();
        return;
      }
      this.wake(message.payload);
    });
    client
      .connect()
      .then(() => client.query(`listen ${TICKET_CHANNEL}`))
      .then(() => this.probe())
      .then((heard) => {
        if (this.client !== client) return;
        if (!heard) {
          // Not heard: a pooler in transaction mode, or a pool too busy to announce in time. A
          // few tries with the backoff, then one every few minutes.
          this.unheard++;
          lost(
            'an announcement sent through the pool did not come back (a pooler in transaction mode?)',
            this.unheard >= MAX_UNHEARD ? GIVE_UP_RETRY_MS : undefined,
          );
          return;
        }
        this.unheard = 0;
        this.listening = true;
        this.retryMs = RETRY_MS;
        this.logger.info("login tickets: listening for the other instances' ticket changes");
        // Whatever changed while nobody listened: every waiter reads its ticket again.
        for (const id of [...this.waiters.keys()]) this.wake(id);
        // A connection can go silent without an error: a probe now and then tells.
        this.probeTimer = setInterval(() => {
          void this.probe().then((ok) => {
            if (!ok) lost('a periodic announcement did not come back');
          });
        }, PROBE_EVERY_MS);
        this.probeTimer.unref();
      })
      .catch((error: Error) => lost(error.message));
  }

  /** Whether an announcement made through another connection reaches the LISTEN connection. */
  private async probe(): Promise<boolean> {
    const token = `${PROBE_PREFIX}${randomUUID()}`;
    let timer: NodeJS.Timeout | undefined;
    const heard = new Promise<boolean>((resolve) => {
      this.probing = { token, heard: () => resolve(true) };
      timer = setTimeout(() => resolve(false), PROBE_MS);
    });
    try {
      await this.announce(token);
      return await heard;
    } finally {
      clearTimeout(timer);
      this.probing = undefined;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.probeTimer);
    const client = this.client;
    this.client = undefined;
    this.listening = false;
    await client?.end().catch(() => {});
  }
}
