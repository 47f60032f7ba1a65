import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { AppError } from '../errors.js';

/** Every metric name starts with this (docs/operations.md, "Metrics"). */
export const METRIC_PREFIX = 'wechat_login_';

/** What a login or link came to: `success`, the AppError's code, or INTERNAL for anything else. */
export function outcomeOf(error: unknown): string {
  return error instanceof AppError ? error.code : 'INTERNAL';
}

/** The database pool as tarn counts it, read at scrape time. */
export interface PoolStats {
  used: number;
  free: number;
  pendingAcquires: number;
}

/** What the scrape-time gauges read: each may fail or be absent without failing the scrape. */
export interface ScrapeSources {
  /** The pool's counts now; undefined when there is no pool to read. */
  pool(): PoolStats | undefined;
  /** Pending rows of the webhook outbox (one query on the partial index). */
  outboxPending(): Promise<number>;
}

/** How long a scrape waits for the outbox count before leaving the gauge as it was. */
const BACKLOG_QUERY_TIMEOUT_MS = 2000;

/** WeChat answers in tens to hundreds of ms; the timeout is 5 s. */
const WECHAT_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Operations: from a token check in a millisecond to a login waiting on WeChat. */
const GRAPHQL_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * One Prometheus registry and the metrics of one server instance (tests run several per process,
 * so never prom-client's global registry). Always counted, in memory; METRICS_PORT only decides
 * whether a listener serves them. Labels take values from fixed sets only: never a user id, an
 * openid, a unionid, a phone number or any text a client chose.
 */
export class Metrics {
  readonly registry = new Registry();

  /** Logins by kind (LoginMethodKind) and outcome (`success` or an error code). */
  readonly logins = new Counter({
    name: `${METRIC_PREFIX}logins_total`,
    help: 'Login attempts by kind (WECHAT_WEB, WECHAT_APP, WECHAT_MINI, WECHAT_OFFICIAL_ACCOUNT; MINI_PROGRAM_CODE, MINI_PROGRAM_LINK and OFFICIAL_ACCOUNT_QR: a session handed to a login ticket’s waiting page) and outcome (success or the error code)',
    labelNames: ['kind', 'outcome'] as const,
    registers: [this.registry],
  });

  /** Login tickets by kind and event (created, scanned, confirmed, cancelled). */
  readonly loginTickets = new Counter({
    name: `${METRIC_PREFIX}login_tickets_total`,
    help: 'Login tickets by kind (MINI_PROGRAM_CODE, MINI_PROGRAM_LINK, OFFICIAL_ACCOUNT_QR) and event (created, scanned, confirmed, cancelled)',
    labelNames: ['kind', 'event'] as const,
    registers: [this.registry],
  });

  /** Official Account pushes (/wechat/events/:appId) by what they did. */
  readonly officialAccountPushes = new Counter({
    name: `${METRIC_PREFIX}official_account_pushes_total`,
    help: 'Official Account pushes by outcome (login, followed, unfollowed, ignored, no-ticket, registration-closed, user-disabled, duplicate, refused, malformed, failed, late: answered before the work ended)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  /** linkWechatIdentity attempts by kind of the identity linked and outcome. */
  readonly links = new Counter({
    name: `${METRIC_PREFIX}identity_links_total`,
    help: 'linkWechatIdentity attempts by kind of the identity and outcome (success or the error code)',
    labelNames: ['kind', 'outcome'] as const,
    registers: [this.registry],
  });

  /** Each HTTP attempt to WeChat by endpoint (path) and errcode. */
  readonly wechatRequests = new Counter({
    name: `${METRIC_PREFIX}wechat_requests_total`,
    help: 'HTTP requests to WeChat (each attempt) by endpoint and errcode (0, the WeChat errcode, timeout, network, http_5xx, http_status, bad_body)',
    labelNames: ['endpoint', 'errcode'] as const,
    registers: [this.registry],
  });

  readonly wechatDuration = new Histogram({
    name: `${METRIC_PREFIX}wechat_request_duration_seconds`,
    help: 'Time of one HTTP request to WeChat, by endpoint, whatever its outcome',
    labelNames: ['endpoint'] as const,
    buckets: WECHAT_BUCKETS,
    registers: [this.registry],
  });

  readonly graphqlDuration = new Histogram({
    name: `${METRIC_PREFIX}graphql_operation_duration_seconds`,
    help: 'GraphQL operations from request to response, by operation type and root field (a field of the schema, (several) or (invalid))',
    labelNames: ['operation_type', 'root_field'] as const,
    buckets: GRAPHQL_BUCKETS,
    registers: [this.registry],
  });

  readonly rateLimitRefusals = new Counter({
    name: `${METRIC_PREFIX}rate_limit_refusals_total`,
    help: 'Requests refused with RATE_LIMITED, by action (login, refresh, phone, identity, account)',
    labelNames: ['action'] as const,
    registers: [this.registry],
  });

  readonly appTokenFetches = new Counter({
    name: `${METRIC_PREFIX}app_access_token_fetches_total`,
    help: 'WeChat app access tokens fetched from stable_token, by mode (normal, forced)',
    labelNames: ['mode'] as const,
    registers: [this.registry],
  });

  readonly webhookDeliveries = new Counter({
    name: `${METRIC_PREFIX}webhook_deliveries_total`,
    help: 'Webhook delivery attempts by outcome (delivered, retried, failed: given up)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly housekeepingPasses = new Counter({
    name: `${METRIC_PREFIX}housekeeping_passes_total`,
    help: 'Housekeeping passes of this instance, by result (done, skipped: another instance held the lock)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly housekeepingDeleted = new Counter({
    name: `${METRIC_PREFIX}housekeeping_deleted_rows_total`,
    help: "Rows deleted by this instance's housekeeping passes, by table",
    labelNames: ['table'] as const,
    registers: [this.registry],
  });

  private sources: ScrapeSources | undefined;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
    const poolGauge = (name: string, help: string, read: (s: PoolStats) => number) =>
      new Gauge({
        name: `${METRIC_PREFIX}db_pool_${name}`,
        help,
        registers: [this.registry],
        collect() {
          const stats = readPool();
          if (stats) this.set(read(stats));
        },
      });
    const readPool = (): PoolStats | undefined => {
      try {
        return this.sources?.pool();
      } catch {
        return undefined;
      }
    };
    poolGauge('used_connections', 'Database connections lent out now', (s) => s.used);
    poolGauge('free_connections', 'Database connections open and idle now', (s) => s.free);
    poolGauge('pending_acquires', 'Queries waiting for a database connection now', (s) => s.pendingAcquires);

    const metricsSources = () => this.sources;
    new Gauge({
      name: `${METRIC_PREFIX}webhook_outbox_pending`,
      help: 'Webhook deliveries waiting to be sent (all instances: rows in state pending)',
      registers: [this.registry],
      // Every worker of WEB_CONCURRENCY counts the same rows: their sum would count them N times.
      aggregator: 'max',
      collect: async function (this: Gauge) {
        await collectBacklog(this, metricsSources());
      },
    });
  }

  /** Where the scrape-time gauges read from (the database, once it is open). */
  observe(sources: ScrapeSources): void {
    this.sources = sources;
  }

  /** The text exposition format, and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/**
 * Sets the backlog gauge from one count; a failed or slow query (over BACKLOG_QUERY_TIMEOUT_MS)
 * leaves the last value, so the scrape still answers (/healthz reports the database).
 */
async function collectBacklog(backlog: Gauge, sources: ScrapeSources | undefined): Promise<void> {
  if (!sources) return;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), BACKLOG_QUERY_TIMEOUT_MS);
  });
  try {
    const count = await Promise.race([sources.outboxPending(), timeout]);
    if (count !== undefined) backlog.set(count);
  } catch {
    // The database is down or slow: the scrape still answers, /healthz says why.
  } finally {
    clearTimeout(timer);
  }
}
