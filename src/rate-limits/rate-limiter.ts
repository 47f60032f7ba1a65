import type { EntityManager } from '@mikro-orm/postgresql';
import { execute, sql } from '../db/sql.js';
import { RateLimitedError } from '../errors.js';

export interface RateLimitSettings {
  enabled: boolean;
  perIpPerMinute: number;
  perIdentityPerMinute: number;
}

/** What a limit counts: per client IP `login`, `refresh`, `phone`; per WeChat identity `identity`. */
export type RateLimitAction = 'login' | 'refresh' | 'phone' | 'identity';

const WINDOW_MS = 60_000;

const HIT = sql<'key' | 'windowStart', { hits: number }>(`
insert into rate_limit_bucket (key, window_start, hits) values (:key, :windowStart, 1)
on conflict (key, window_start) do update set hits = rate_limit_bucket.hits + 1
returning hits`);

const FORGET_BEFORE = sql<'before'>(`delete from rate_limit_bucket where window_start < :before`);

/**
 * Fixed one-minute windows counted in PostgreSQL (one upsert per check), so every instance of the
 * server shares the same counts. Checks the client IP before WeChat is called and the WeChat
 * identity once WeChat has said who it is.
 */
export class RateLimiter {
  constructor(
    private readonly settings: RateLimitSettings,
    /** Told of every refusal (the metrics). */
    private readonly onRefused: (action: RateLimitAction) => void = () => undefined,
  ) {}

  /** Logins (`login`), refreshes (`refresh`) and phone-number binds (`phone`) per client IP. */
  ip(em: EntityManager, action: 'login' | 'refresh' | 'phone', ip: string): Promise<void> {
    return this.hit(em, action, `ip:${action}:${ip}`, this.settings.perIpPerMinute);
  }

  /** Logins per WeChat identity, across IPs. */
  identity(em: EntityManager, appId: string, openId: string): Promise<void> {
    return this.hit(em, 'identity', `wechat:${appId}:${openId}`, this.settings.perIdentityPerMinute);
  }

  private async hit(em: EntityManager, action: RateLimitAction, key: string, limit: number): Promise<void> {
    if (!this.settings.enabled) return;
    const now = Date.now();
    const windowStart = Math.floor(now / WINDOW_MS) * WINDOW_MS;
    const [row] = await execute(em, HIT, { key, windowStart: new Date(windowStart) });
    // Now and then, drop windows that are over.
    if (Math.random() < 0.01) await execute(em, FORGET_BEFORE, { before: new Date(windowStart - WINDOW_MS) });
    if (Number(row!.hits) > limit) {
      this.onRefused(action);
      throw new RateLimitedError(Math.max(1, Math.ceil((windowStart + WINDOW_MS - now) / 1000)));
    }
  }
}
