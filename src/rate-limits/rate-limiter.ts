import { Redis } from 'ioredis';
import {
  RateLimiterMemory,
  RateLimiterPostgres,
  RateLimiterRedis,
  RateLimiterRes,
  type RateLimiterAbstract,
} from 'rate-limiter-flexible';
import { RateLimitedError } from '../errors.js';
import { clientKey, DEFAULT_IPV6_PREFIX } from './client-key.js';

export interface RateLimitSettings {
  enabled: boolean;
  perIpPerMinute: number;
  perIdentityPerMinute: number;
  /** Changes to one signed-in account (profile, link, unlink, phone) per minute. */
  perUserPerMinute: number;
  /** IPv6 clients count by their network of this many bits (clientKey). */
  ipv6Prefix?: number;
  /** Counts in Redis instead of PostgreSQL (larger fleets): `redis://` or `rediss://`. */
  redisUrl?: string;
  /** URL Links (login tickets for a phone browser) one mini program may make a day, all clients together. */
  linksPerAppPerDay?: number;
}

/**
 * URL Links per client IP per minute: each spends one of the mini program's daily quota with
 * WeChat (500 000 links and schemes a day in all), so far fewer than other tickets.
 */
export const LINKS_PER_IP_PER_MINUTE = 10;

/** Admin API calls one key may make a minute (a script paging through every user fits). */
export const ADMIN_CALLS_PER_MINUTE = 600;

/**
 * What a limit counts: logins, refreshes, phone binds and login tickets per client IP; logins per WeChat identity;
 * changes to one account (`account`) per signed-in user; admin API calls (`admin`) per admin key.
 */
export type RateLimitAction =
  'login' | 'refresh' | 'phone' | 'ticket' | 'link' | 'link_day' | 'identity' | 'account' | 'admin' | 'oidc';

/** The table the PostgreSQL store counts in (its schema is the library's, made by a migration). */
export const RATE_LIMIT_TABLE = 'rate_limit';

const WINDOW_SECONDS = 60;

/**
 * Per-minute limits with rate-limiter-flexible, counted where every instance sees the same
 * counts: PostgreSQL (table `rate_limit`, through the ORM's connection pool) or, with
 * REDIS_URL, Redis. A window opens at a key's first hit and lasts a minute. A key over
 * its limit is also blocked in this process's memory until its window ends, so a refused flood
 * costs no database write after its first refusal. Should the store fail (Redis down), each
 * process goes on counting in memory rather than refusing or admitting everyone.
 */
/** The ORM's pool as rate-limiter-flexible's PostgreSQL store takes it. */
export interface PostgresStore {
  storeClient: unknown;
  storeType: 'knex';
}

export class RateLimiter {
  private readonly limiters: Record<RateLimitAction, RateLimiterAbstract> | null;
  private readonly redis: Redis | null = null;
  private readonly ipv6Prefix: number;

  /**
   * `store`: how the PostgreSQL store reaches the ORM's connection pool (db/pool.ts's
   * rateLimitStore; unused with Redis).
   * `onRefused`: told of each refusal, by action (metrics).
   */
  constructor(
    settings: RateLimitSettings,
    store: PostgresStore,
    private readonly onRefused: (action: RateLimitAction) => void = () => {},
  ) {
    this.ipv6Prefix = settings.ipv6Prefix ?? DEFAULT_IPV6_PREFIX;
    if (!settings.enabled) {
      this.limiters = null;
      return;
    }
    if (settings.redisUrl) {
      this.redis = new Redis(settings.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
      // Errors show in the insurance limiter taking over; a log line per reconnect attempt is noise.
      this.redis.on('error', () => {});
    }
    const make = (
      action: RateLimitAction,
      points: number,
      duration = WINDOW_SECONDS,
    ): RateLimiterAbstract => {
      const common = {
        keyPrefix: action,
        points,
        duration,
        // Refused once: refused from memory for the rest of the window, no store round trip.
        inMemoryBlockOnConsumed: points + 1,
        insuranceLimiter: new RateLimiterMemory({ keyPrefix: action, points, duration }),
      };
      if (this.redis) return new RateLimiterRedis({ ...common, storeClient: this.redis });
      return new RateLimiterPostgres({
        ...common,
        ...store,
        tableName: RATE_LIMIT_TABLE,
        // Made by the migrations, pruned by housekeeping.
        tableCreated: true,
        clearExpiredByTimeout: false,
      });
    };
    this.limiters = {
      login: make('login', settings.perIpPerMinute),
      refresh: make('refresh', settings.perIpPerMinute),
      phone: make('phone', settings.perIpPerMinute),
      ticket: make('ticket', settings.perIpPerMinute),
      link: make('link', Math.min(LINKS_PER_IP_PER_MINUTE, settings.perIpPerMinute)),
      link_day: make('link_day', settings.linksPerAppPerDay ?? 100_000, 24 * 3600),
      identity: make('identity', settings.perIdentityPerMinute),
      account: make('account', settings.perUserPerMinute),
      admin: make('admin', ADMIN_CALLS_PER_MINUTE),
      oidc: make('oidc', settings.perIpPerMinute),
    };
  }

  /**
   * Logins (`login`), refreshes (`refresh`), phone-number binds (`phone`), login tickets made
   * or moved (`ticket`) and OpenID Connect authorization and logout requests (`oidc`) per client: an IPv4
   * address, or an IPv6 client's network (clientKey), so a host cannot rotate through its /64.
   */
  ip(action: 'login' | 'refresh' | 'phone' | 'ticket' | 'link' | 'oidc', ip: string): Promise<void> {
    return this.consume(action, clientKey(ip, this.ipv6Prefix));
  }

  /** URL Links one mini program makes in a day (a window that opens at its first link), whatever the client. */
  linksOfApp(appId: string): Promise<void> {
    return this.consume('link_day', appId);
  }

  /** Changes one signed-in person makes to their account, whatever the IP. */
  user(userId: string): Promise<void> {
    return this.consume('account', userId);
  }

  /** Admin API calls per admin key, whatever the IP. */
  adminKey(keyId: string): Promise<void> {
    return this.consume('admin', keyId);
  }

  /** Logins per WeChat identity, across IPs. */
  identity(appId: string, openId: string): Promise<void> {
    return this.consume('identity', `${appId}:${openId}`);
  }

  /** Ends the Redis connection, if any. */
  async close(): Promise<void> {
    if (this.redis) await this.redis.quit().catch(() => this.redis!.disconnect());
  }

  private async consume(action: RateLimitAction, key: string): Promise<void> {
    if (!this.limiters) return;
    try {
      await this.limiters[action].consume(key);
    } catch (refusal) {
      // The library rejects with its result when the limit is passed, with an Error otherwise.
      if (!(refusal instanceof RateLimiterRes)) throw refusal;
      this.onRefused(action);
      throw new RateLimitedError(Math.max(1, Math.ceil(refusal.msBeforeNext / 1000)));
    }
  }
}
