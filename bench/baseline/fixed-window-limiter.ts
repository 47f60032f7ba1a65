import type { EntityManager } from '@mikro-orm/postgresql';
import { execute, sql } from '../../src/db/sql.js';

/**
 * The hand-written limiter the server used before rate-limiter-flexible, kept as the baseline of
 * `npm run bench -- --rate-limit`: fixed one-minute windows aligned to the clock, one upsert into
 * `rate_limit_bucket` per check (refused or not), and about one check in a hundred deleting ended
 * windows.
 */
const HIT = sql<'key' | 'windowStart', { hits: number }>(`
insert into rate_limit_bucket (key, window_start, hits) values (:key, :windowStart, 1)
on conflict (key, window_start) do update set hits = rate_limit_bucket.hits + 1
returning hits`);

const FORGET_BEFORE = sql<'before'>(`delete from rate_limit_bucket where window_start < :before`);

const WINDOW_MS = 60_000;

export class FixedWindowLimiter {
  constructor(private readonly limit: number) {}

  /** True when admitted, false when refused. */
  async check(em: EntityManager, key: string): Promise<boolean> {
    const now = Date.now();
    const windowStart = Math.floor(now / WINDOW_MS) * WINDOW_MS;
    const [row] = await execute(em, HIT, { key, windowStart: new Date(windowStart) });
    if (Math.random() < 0.01) await execute(em, FORGET_BEFORE, { before: new Date(windowStart - WINDOW_MS) });
    return Number(row!.hits) <= this.limit;
  }
}
