import os from 'node:os';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Redis } from 'ioredis';
import pg from 'pg';
import { openDatabase } from '../src/db/database.js';
import { rateLimitStore } from '../src/db/pool.js';
import { RateLimitedError } from '../src/errors.js';
import { RateLimiter } from '../src/rate-limits/rate-limiter.js';
import { FixedWindowLimiter } from './baseline/fixed-window-limiter.js';

/**
 * `npm run bench -- --rate-limit`, second part: the rate limiter alone, today's
 * (rate-limiter-flexible on PostgreSQL, and on Redis when one answers at BENCH_REDIS_URL or
 * 127.0.0.1:6379) against the hand-written one it replaced (bench/baseline/fixed-window-limiter.ts),
 * on one fresh database, 32 checks in flight:
 * - admitted: 20 000 checks over 2 000 keys (10 each, limit 300): the cost of counting;
 * - refused flood: 20 000 checks of one key over its limit (5): the cost of saying no.
 * Database writes per check: the upserts that reached PostgreSQL (the counts the store kept for
 * the run's keys), over the checks made.
 */
const CONCURRENCY = 32;
const CHECKS = 20_000;

interface Row {
  limiter: string;
  scenario: string;
  checksPerSecond: number;
  refused: number;
  writesPerCheck: number | null;
}

type Check = (key: string) => Promise<boolean>;

async function run(
  check: Check,
  keyOf: (i: number) => string,
): Promise<{ seconds: number; refused: number }> {
  let next = 0;
  let refused = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < CHECKS) {
        const i = next++;
        if (!(await check(keyOf(i)))) refused++;
      }
    }),
  );
  return { seconds: (performance.now() - started) / 1000, refused };
}

/**
 * Checks that reached PostgreSQL in a run: what the store counted for the run's keys (each check
 * the store saw is one upsert adding one to its key's count).
 */
async function storeWrites(client: pg.Client, table: string, salt: string): Promise<number> {
  const count = table === 'rate_limit_bucket' ? 'hits' : 'points';
  const prefix = table === 'rate_limit_bucket' ? salt : `login:${salt}`;
  const { rows } = await client.query<{ n: string }>(
    `select coalesce(sum(${count}), 0) as n from ${table} where key like $1`,
    [`${prefix}%`],
  );
  return Number(rows[0]!.n);
}

async function redisAt(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.flushdb();
    await client.quit();
    return true;
  } catch {
    client.disconnect();
    return false;
  }
}

function limiterCheck(limiter: RateLimiter): Check {
  return async (key) => {
    try {
      await limiter.ip('login', key);
      return true;
    } catch (error) {
      if (error instanceof RateLimitedError) return false;
      throw error;
    }
  };
}

export async function compareRateLimiters(dbUrl: string, out: (line?: string) => void): Promise<void> {
  const database = await openDatabase({ url: dbUrl, embeddedDir: '', migrateOnStart: true, poolMax: 10 });
  const stats = new pg.Client({ connectionString: dbUrl });
  await stats.connect();
  const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/9';
  const rows: Row[] = [];
  try {
    const em: EntityManager = database.orm.em;
    const limiters: {
      name: string;
      table: string | null;
      make: (limit: number) => Check;
      close?: () => Promise<void>;
    }[] = [
      {
        name: 'hand-written (before)',
        table: 'rate_limit_bucket',
        make: (limit) => {
          const old = new FixedWindowLimiter(limit);
          return (key) => old.check(em.fork(), key);
        },
      },
    ];
    const open: RateLimiter[] = [];
    const flexible = (redis?: string) => (limit: number) => {
      const limiter = new RateLimiter(
        {
          enabled: true,
          perIpPerMinute: limit,
          perIdentityPerMinute: limit,
          perUserPerMinute: limit,
          redisUrl: redis,
        },
        rateLimitStore(em),
      );
      open.push(limiter);
      return limiterCheck(limiter);
    };
    limiters.push({ name: 'rate-limiter-flexible, PostgreSQL', table: 'rate_limit', make: flexible() });
    const withRedis = await redisAt(redisUrl);
    if (withRedis)
      limiters.push({ name: 'rate-limiter-flexible, Redis', table: null, make: flexible(redisUrl) });

    for (const limiter of limiters) {
      for (const [scenario, limit, keyOf] of [
        ['admitted (2 000 keys)', 300, (i: number) => `198.51.${Math.floor(i / 200) % 10}.${i % 200}`],
        ['refused flood (1 key)', 5, () => '203.0.113.7'],
      ] as const) {
        // Each scenario on its own keys: a run never finds the previous one's windows.
        const salt = `r${rows.length}-`;
        const check = limiter.make(limit);
        const { seconds, refused } = await run(check, (i) => salt + keyOf(i));
        const written = limiter.table ? await storeWrites(stats, limiter.table, salt) : 0;
        rows.push({
          limiter: limiter.name,
          scenario,
          checksPerSecond: CHECKS / seconds,
          refused,
          writesPerCheck: limiter.table ? written / CHECKS : null,
        });
      }
    }
    for (const limiter of open) await limiter.close();

    out();
    out(`Rate limiter alone: ${CHECKS} checks per run, ${CONCURRENCY} in flight, ${os.cpus().length} CPUs`);
    const header = ['limiter', 'scenario', 'checks/s', 'refused', 'DB writes/check'];
    const cells = rows.map((r) => [
      r.limiter,
      r.scenario,
      r.checksPerSecond.toFixed(0),
      String(r.refused),
      r.writesPerCheck === null ? '— (Redis)' : r.writesPerCheck.toFixed(3),
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
    for (const line of [header, ...cells])
      out(line.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
    if (!withRedis) out(`(no Redis at ${redisUrl}: its row is left out)`);
  } finally {
    await stats.end();
    await database.close();
  }
}
