import { spawn } from 'node:child_process';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import type { Database } from '../src/db/database.js';
import {
  HOUSEKEEPING_LOCK,
  prune,
  totalDeleted,
  type HousekeepingSettings,
  type PruneResult,
} from '../src/housekeeping/housekeeping.js';
import { openTwoHandles, type TestDatabase, type TwoHandles } from './support/database.js';
import { itOnServer } from './support/real-postgres.js';
import { eventually } from './support/eventually.js';
import { startTestServer } from './support/server.js';

const SETTINGS: HousekeepingSettings = {
  sessionRetentionDays: 30,
  webhookRetentionDays: 7,
  auditRetentionDays: 180,
  batchSize: 5000,
};
const USER = '00000000-0000-4000-8000-000000000001';

/** Session ids by what they are; `<name>-token-<n>` refresh tokens belong to them. */
const S = {
  expired: '00000000-0000-4000-8000-00000000a001',
  live: '00000000-0000-4000-8000-00000000a002',
  revokedLongAgo: '00000000-0000-4000-8000-00000000a003',
  revokedRecently: '00000000-0000-4000-8000-00000000a004',
};

describe('housekeeping', () => {
  let handles: TwoHandles;
  let db: TestDatabase;
  let first: Database;
  let second: Database;
  const q = <R extends Record<string, unknown>>(text: string, values?: unknown[]) =>
    handles.q<R>(text, values);

  beforeAll(async () => {
    handles = await openTwoHandles(1);
    ({ db, first, second } = handles);
    await q(`insert into "user" (id, created_at, updated_at) values ($1, now(), now())`, [USER]);
  });
  afterAll(async () => {
    await handles?.close();
  });
  beforeEach(async () => {
    await q('delete from session');
    await q('delete from web_login_state');
    await q('delete from rate_limit_bucket');
    await q('delete from rate_limit');
    await q('delete from webhook_delivery');
    await q('delete from login_ticket');
    await q('delete from handled_push');
    await q('delete from audit_event');
  });

  /** An audit event of USER that happened `age` ago (an SQL interval). */
  async function auditEvent(type: string, age: string): Promise<void> {
    await q(
      `insert into audit_event (id, occurred_at, type, user_id, actor_type, actor_id)
       values (gen_random_uuid(), now() - $2::interval, $1, $3::uuid, 'user', $3::text)`,
      [type, age, USER],
    );
  }

  /** A session of USER: expires `expires` from now (an SQL interval), revoked `revoked` ago if given. */
  async function session(id: string, expires: string, revoked?: string): Promise<void> {
    await q(
      `insert into session (id, created_at, updated_at, last_used_at, user_id, expires_at, revoked_at, revoked_reason)
       values ($1, now() - interval '60 days', now(), now() - interval '60 days', $2, now() + $3::interval,
               now() - $4::interval, case when $4::interval is not null then 'logout' end)`,
      [id, USER, expires, revoked ?? null],
    );
    // One rotated and one current refresh token each: reuse detection needs the rotated one.
    await q(
      `insert into refresh_token (token_hash, session_id, created_at, rotated_at) values
       ($1 || '-token-1', $1::uuid, now() - interval '2 days', now() - interval '1 day'),
       ($1 || '-token-2', $1::uuid, now() - interval '1 day', null)`,
      [id],
    );
  }

  async function delivery(messageId: string, state: string, age: string): Promise<void> {
    await q(
      `insert into webhook_delivery (message_id, endpoint, type, user_id, body, state, attempts, next_attempt_at, created_at)
       values ($1, 'https://hooks.example.com/a', 'user.created', $2, '{}', $3, 1, now(), now() - $4::interval)`,
      [messageId, USER, state, age],
    );
  }

  it('deletes exactly what has expired, in every table, and nothing else', async () => {
    await session(S.expired, '-1 second');
    await session(S.live, '20 days');
    await session(S.revokedLongAgo, '20 days', '31 days');
    await session(S.revokedRecently, '20 days', '1 day');
    await q(`insert into web_login_state (nonce, expires_at, used_at) values
      ('state-expired', now() - interval '1 second', now() - interval '11 minutes'),
      ('state-fresh', now() + interval '9 minutes', now())`);
    // Windows of one minute: ended 5 min ago (goes), ended 1 min ago (stays a little), current.
    await q(`insert into rate_limit_bucket (key, window_start, hits) values
      ('ip:login:192.0.2.1', date_trunc('minute', now()) - interval '6 minutes', 3),
      ('ip:login:192.0.2.2', date_trunc('minute', now()) - interval '2 minutes', 3),
      ('ip:login:192.0.2.3', date_trunc('minute', now()), 3)`);
    // rate-limiter-flexible's windows end at `expire` (epoch ms): ended 3 min ago (goes), ended
    // 1 min ago (stays a little), current.
    await q(`insert into rate_limit (key, points, expire) values
      ('login:192.0.2.1', 3, (extract(epoch from now()) * 1000)::bigint - 180000),
      ('login:192.0.2.2', 3, (extract(epoch from now()) * 1000)::bigint - 60000),
      ('login:192.0.2.3', 3, (extract(epoch from now()) * 1000)::bigint + 30000)`);
    await delivery('msg_delivered_old', 'delivered', '8 days');
    await delivery('msg_failed_old', 'failed', '8 days');
    await delivery('msg_pending_old', 'pending', '8 days');
    await delivery('msg_delivered_recent', 'delivered', '6 days');
    // Login tickets go an hour after their end: ended 2 hours ago (goes), ended a minute ago, live.
    await q(`insert into login_ticket (id, kind, app_id, scene, secret_hash, state, created_at, expires_at) values
      (gen_random_uuid(), 'MINI_PROGRAM_CODE', 'wxmini', 'sceneOld', 'h1', 'WAITING', now() - interval '3 hours', now() - interval '2 hours'),
      (gen_random_uuid(), 'MINI_PROGRAM_CODE', 'wxmini', 'sceneRecent', 'h2', 'CONFIRMED', now() - interval '6 minutes', now() - interval '1 minute'),
      (gen_random_uuid(), 'MINI_PROGRAM_LINK', 'wxmini', 'sceneLive', 'h3', 'WAITING', now(), now() + interval '5 minutes')`);
    // Handled Official Account pushes go after a day.
    await q(`insert into handled_push (app_id, open_id, create_time, handled_at) values
      ('wxoa', 'oOld', 1, now() - interval '25 hours'), ('wxoa', 'oRecent', 2, now() - interval '23 hours')`);
    // Audit events go AUDIT_RETENTION_DAYS (180) after they happened.
    await auditEvent('login.succeeded', '181 days');
    await auditEvent('profile.updated', '179 days');
    await auditEvent('session.revoked', '1 minute');

    const result = await prune(first.orm, SETTINGS);

    expect(result).toMatchObject({
      skipped: false,
      deleted: {
        session: 2,
        web_login_state: 1,
        rate_limit: 1,
        rate_limit_bucket: 1,
        webhook_delivery: 2,
        login_ticket: 1,
        handled_push: 1,
        audit_event: 1,
        oidc_payload: 0,
      },
    });
    expect((await q('select type from audit_event order by 1')).map((r) => r.type)).toEqual([
      'profile.updated',
      'session.revoked',
    ]);
    expect((await q('select open_id from handled_push')).map((r) => r.open_id)).toEqual(['oRecent']);
    expect((await q('select scene from login_ticket order by 1')).map((r) => r.scene)).toEqual([
      'sceneLive',
      'sceneRecent',
    ]);
    expect((await q('select id from session order by id')).map((r) => r.id)).toEqual([
      S.live,
      S.revokedRecently,
    ]);
    expect((await q('select token_hash from refresh_token order by 1')).map((r) => r.token_hash)).toEqual([
      `${S.live}-token-1`,
      `${S.live}-token-2`,
      `${S.revokedRecently}-token-1`,
      `${S.revokedRecently}-token-2`,
    ]);
    expect((await q('select nonce from web_login_state')).map((r) => r.nonce)).toEqual(['state-fresh']);
    expect((await q('select key from rate_limit_bucket order by 1')).map((r) => r.key)).toEqual([
      'ip:login:192.0.2.2',
      'ip:login:192.0.2.3',
    ]);
    expect((await q('select key from rate_limit order by 1')).map((r) => r.key)).toEqual([
      'login:192.0.2.2',
      'login:192.0.2.3',
    ]);
    expect((await q('select message_id from webhook_delivery order by 1')).map((r) => r.message_id)).toEqual([
      'msg_delivered_recent',
      'msg_pending_old',
    ]);

    // A second pass finds nothing more.
    expect(await prune(first.orm, SETTINGS)).toMatchObject({
      deleted: {
        session: 0,
        web_login_state: 0,
        rate_limit: 0,
        rate_limit_bucket: 0,
        webhook_delivery: 0,
        login_ticket: 0,
        handled_push: 0,
        audit_event: 0,
        oidc_payload: 0,
      },
    });
  });

  it('follows the retention settings', async () => {
    await session(S.revokedRecently, '20 days', '3 days');
    await delivery('msg_delivered_3_days', 'delivered', '3 days');
    await auditEvent('login.succeeded', '3 days');
    await auditEvent('login.failed', '1 day');
    const result = await prune(first.orm, {
      ...SETTINGS,
      sessionRetentionDays: 2,
      webhookRetentionDays: 2,
      auditRetentionDays: 2,
    });
    expect(result).toMatchObject({ deleted: { session: 1, webhook_delivery: 1, audit_event: 1 } });
  });

  it('deletes in batches until none is left', async () => {
    await q(
      `insert into session (id, created_at, updated_at, last_used_at, user_id, expires_at)
       select gen_random_uuid(), now(), now(), now(), $1, now() - g * interval '1 minute' from generate_series(1, 25) g`,
      [USER],
    );
    const result = await prune(first.orm, { ...SETTINGS, batchSize: 10 });
    expect(result).toMatchObject({ deleted: { session: 25 } });
    expect(await q('select count(*)::int as n from session')).toEqual([{ n: 0 }]);
  });

  const oneSession = 'an advisory lock held by one session and refused to another';

  itOnServer(oneSession)('skips the pass while another process holds the lock', async () => {
    await session(S.expired, '-1 second');
    await q('select pg_advisory_lock($1)', [HOUSEKEEPING_LOCK]);
    try {
      expect(await prune(first.orm, SETTINGS)).toMatchObject({ skipped: true });
      expect(await q('select count(*)::int as n from session')).toEqual([{ n: 1 }]);
    } finally {
      await q('select pg_advisory_unlock($1)', [HOUSEKEEPING_LOCK]);
    }
    expect(await prune(first.orm, SETTINGS)).toMatchObject({ skipped: false, deleted: { session: 1 } });
  });

  itOnServer(oneSession)('runs one of two concurrent passes: only one does the work', async () => {
    await q(
      `insert into session (id, created_at, updated_at, last_used_at, user_id, expires_at)
       select gen_random_uuid(), now(), now(), now(), $1, now() - interval '1 day' from generate_series(1, 3000) g`,
      [USER],
    );
    const settings = { ...SETTINGS, batchSize: 100 };
    const results = await Promise.all([prune(first.orm, settings), prune(second.orm, settings)]);
    const working = results.filter((r) => !r.skipped && totalDeleted(r.deleted) > 0);
    expect(working).toHaveLength(1);
    expect(working[0]!.deleted!.session).toBe(3000);
    // The other was refused the lock (or, if it came after, found nothing left).
    const other = results.find((r) => r !== working[0])!;
    expect(other.skipped || totalDeleted(other.deleted) === 0).toBe(true);
    // The lock was released: a later pass runs.
    expect(await prune(second.orm, SETTINGS)).toMatchObject({ skipped: false });
  });

  it('`npm run prune` runs one pass against DATABASE_URL, prints the counts per table and exits 0', async () => {
    await session(S.expired, '-1 second');
    await session(S.live, '20 days');
    await delivery('msg_failed_old', 'failed', '8 days');
    const child = spawn('npm', ['run', '--silent', 'prune'], {
      env: {
        ...process.env,
        NODE_OPTIONS: '',
        DATABASE_URL: db.url,
        DATABASE_POOL_MAX: '1',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    if (code !== 0) throw new Error(stdout + stderr);
    expect(stdout).toMatch(
      /^session: 1 deleted\nweb_login_state: 0 deleted\nrate_limit: 0 deleted\nrate_limit_bucket: 0 deleted\nwebhook_delivery: 1 deleted\nlogin_ticket: 0 deleted\nhandled_push: 0 deleted\naudit_event: 0 deleted\noidc_payload: 0 deleted\n2 rows in \d+\.\d s\n$/,
    );
    expect((await q('select id from session')).map((r) => r.id)).toEqual([S.live]);
  }, 60_000);
});

describe('the housekeeping job in the server', () => {
  it('runs every HOUSEKEEPING_INTERVAL_SECONDS, logs what it deleted at info and reports it', async () => {
    const passes: PruneResult[] = [];
    const t = await startTestServer(
      { HOUSEKEEPING_INTERVAL_SECONDS: '1' },
      { onHousekeepingPass: (result) => passes.push(result) },
    );
    const client = new pg.Client({ connectionString: t.db.url });
    await client.connect();
    try {
      await client.query(`insert into "user" (id, created_at, updated_at) values ($1, now(), now())`, [USER]);
      await client.query(
        `insert into session (id, created_at, updated_at, last_used_at, user_id, expires_at) values
         ($1, now(), now(), now(), $3, now() - interval '1 hour'), ($2, now(), now(), now(), $3, now() + interval '1 hour')`,
        [S.expired, S.live, USER],
      );
      await eventually(async () => {
        const { rows } = await client.query('select id from session');
        expect(rows.map((r: { id: string }) => r.id)).toEqual([S.live]);
      });
      await eventually(async () => expect(passes.some((p) => p.deleted?.session === 1)).toBe(true));
      // Its work shows in the instance's metrics.
      const scraped = await t.server.metrics.registry.metrics();
      expect(scraped).toMatch(/^wechat_login_housekeeping_deleted_rows_total\{table="session"\} 1$/m);
      expect(scraped).toMatch(/^wechat_login_housekeeping_passes_total\{result="done"\} [1-9]/m);
      const line = t.log.lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.component === 'housekeeping' && (l.deleted as { session?: number })?.session === 1);
      expect(line).toMatchObject({
        level: 30,
        deleted: { session: 1, web_login_state: 0, rate_limit: 0, rate_limit_bucket: 0, webhook_delivery: 0 },
      });
    } finally {
      await client.end();
      await t.stop();
    }
  }, 30_000);
});
