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

/**
 * Wakes the subscriptions of this process waiting on a ticket when the ticket changes, on this
 * instance or any other. Each move of a ticket is announced with `pg_notify` in its own statement
 * (delivered at commit) and woken here at once as well; a dedicated connection LISTENs for the
 * other instances' announcements and reconnects after it is lost (a database restart), waking
 * every waiter then (what changed meanwhile was not heard). After each LISTEN, an announcement
 * sent through the ORM's pool (another connection) must come back within PROBE_MS: where it does
 * not (a pooler in transaction mode, which hands a LISTEN and a NOTIFY to different server
 * sessions; the embedded database's shared session), the connection is closed and not tried again.
 * Without it a waiter still re-reads its ticket every few seconds (LoginTickets.watch), and
 * polling `loginTicket` always works.
 */
export class TicketWakeups {
  private readonly waiters = new Map<string, Set<() => void>>();
  private client: pg.Client | undefined;
  private retryMs = RETRY_MS;
  private retryTimer: NodeJS.Timeout | undefined;
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

  /** How many tickets this process has waiters on. */
  get size(): number {
    return this.waiters.size;
  }

  /** Starts listening on a connection of its own to this database URL (a real server only). */
  listen(url: string): void {
    if (this.closed || this.client) return;
    const client = new pg.Client({ connectionString: url, keepAlive: true });
    this.client = client;
    const lost = (error?: Error) => {
      if (this.client !== client) return;
      this.client = undefined;
      this.listening = false;
      client.removeAllListeners('notification');
      client.end().catch(() => {});
      if (this.closed) return;
      this.logger.warn(
        { error: error?.message, retryInMs: this.retryMs },
        'login tickets: the LISTEN connection was lost; reconnecting (waiting pages fall back to re-reading)',
      );
      this.retryTimer = setTimeout(() => this.listen(url), this.retryMs);
      this.retryTimer.unref();
      this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
    };
    client.on('error', lost);
    client.on('end', () => lost());
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
      .then(async (heard) => {
        if (this.client !== client) return;
        if (!heard) {
          this.client = undefined;
          client.removeAllListeners();
          client.on('error', () => {});
          await client.end().catch(() => {});
          this.logger.warn(
            'login tickets: LISTEN/NOTIFY does not reach this instance (a pooler in transaction mode?): ' +
              'waiting pages re-read their ticket every few seconds instead',
          );
          return;
        }
        this.listening = true;
        this.retryMs = RETRY_MS;
        this.logger.info("login tickets: listening for the other instances' ticket changes");
        // Whatever changed while nobody listened: every waiter reads its ticket again.
        for (const id of [...this.waiters.keys()]) this.wake(id);
      })
      .catch((error: Error) => lost(error));
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
    const client = this.client;
    this.client = undefined;
    this.listening = false;
    await client?.end().catch(() => {});
  }
}
