import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AdminKeys } from '../src/admin/admin-keys.js';
import { clientOf, type Client } from './support/client.js';
import { sqlOf, type Sql } from './support/sql.js';
import { APPS, startWorld, type World } from './support/world.js';

/** The admin API's `auditEvents` as an operator pages and narrows it, over HTTP with real keys. */
let w: World;
let c: Client;
let sql: Sql;
let readKey: string;
let writeKey: string;

beforeAll(async () => {
  w = await startWorld({ env: { RATE_LIMIT: 'off' } });
  c = clientOf(w);
  sql = sqlOf(w.t);
  const em = () => w.t.server.database.orm.em.fork();
  readKey = (await AdminKeys.create(em(), 'auditor', 'read')).key;
  writeKey = (await AdminKeys.create(em(), 'ops', 'write')).key;
});
afterAll(async () => {
  await w?.stop();
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

interface Answer {
  status: number;
  data?: Json;
  errors?: { message: string; extensions?: { code?: string; field?: string } }[];
}

async function adminGql(key: string | null, query: string, variables: Json = {}): Promise<Answer> {
  const response = await fetch(`${w.t.url}/admin/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(key && { authorization: `Bearer ${key}` }),
      'x-request-id': 'audit-reader-1',
    },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, ...((await response.json()) as object) };
}

const PAGE = `query ($filter: AuditEventFilter, $first: Int, $after: String) {
  auditEvents(filter: $filter, first: $first, after: $after) {
    nodes { id occurredAt type userId actorType actorId actorName appId openId errorCode details ipPrefix userAgent requestId }
    pageInfo { endCursor hasNextPage }
  }
}`;

interface EventNode {
  id: string;
  occurredAt: string;
  type: string;
  userId: string | null;
  actorType: string;
  actorId: string | null;
  actorName: string | null;
  appId: string | null;
  openId: string | null;
  errorCode: string | null;
  details: Json | null;
  ipPrefix: string | null;
  userAgent: string | null;
  requestId: string | null;
}

/** Every page of a filter, `between` called after each page but the last; the events in order. */
async function allPages(
  filter: Json | null,
  first: number,
  between: (page: number) => Promise<void> = async () => {},
): Promise<{ events: EventNode[]; pages: number }> {
  const events: EventNode[] = [];
  let after: string | null = null;
  let pages = 0;
  for (;;) {
    const answer = await adminGql(readKey, PAGE, { filter, first, after });
    expect(answer.errors).toBeUndefined();
    const page = answer.data!.auditEvents as {
      nodes: EventNode[];
      pageInfo: { endCursor: string | null; hasNextPage: boolean };
    };
    events.push(...page.nodes);
    pages++;
    if (!page.pageInfo.hasNextPage) return { events, pages };
    await between(pages);
    after = page.pageInfo.endCursor;
  }
}

/**
 * Newest first: in the database's order of (time, id), both descending. The database's times have
 * microseconds; the answer's have milliseconds.
 */
async function expectNewestFirst(events: EventNode[]): Promise<void> {
  const ids = new Set(events.map((e) => e.id));
  const ordered = await sql<{ id: string }>('select id from audit_event order by occurred_at desc, id desc');
  expect(events.map((e) => e.id)).toEqual(ordered.map((r) => r.id).filter((id) => ids.has(id)));
}

describe('auditEvents', () => {
  it('shows a login as it was recorded, to a read key, and records the read itself', async () => {
    const login = await c.run(
      'WechatMiniLogin',
      { input: { code: await w.code(APPS.mini.appid, 'aev-ann') } },
      { 'user-agent': 'AuditEventsTest/1.0', 'x-request-id': 'aev-login-1' },
    );
    expect(login.errors).toBeUndefined();
    const ann = login.data!.wechatMiniLogin.user.id;

    const answer = await adminGql(readKey, PAGE, { filter: { userId: ann } });
    expect(answer.status).toBe(200);
    expect(answer.errors).toBeUndefined();
    const nodes = answer.data!.auditEvents.nodes as EventNode[];
    // The read of Ann's events is an event of Ann's too, written before the page was read.
    expect(nodes.map((n) => n.type)).toEqual(['admin.read', 'login.succeeded']);
    expect(nodes[1]).toMatchObject({
      userId: ann,
      actorType: 'USER',
      actorId: ann,
      actorName: null,
      appId: APPS.mini.appid,
      errorCode: null,
      details: { kind: 'WECHAT_MINI', isNewUser: true },
      userAgent: 'AuditEventsTest/1.0',
      requestId: 'aev-login-1',
    });
    expect(nodes[1]!.openId).toMatch(/\S/);
    expect(nodes[1]!.ipPrefix).toMatch(/\/(24|48|\d+)$/);
    expect(Date.parse(nodes[1]!.occurredAt)).toBeLessThanOrEqual(Date.now());
    expect(nodes[0]).toMatchObject({
      actorType: 'ADMIN_KEY',
      actorName: 'auditor',
      details: { field: 'auditEvents', filters: ['userId'] },
      requestId: 'audit-reader-1',
    });
    expect(answer.data!.auditEvents.pageInfo.hasNextPage).toBe(false);
  });

  it('pages newest first through thousands of events: no gaps, no repeats while events are added', async () => {
    // 3,000 events over the last day, five at a time sharing a time to the microsecond.
    await sql(
      `insert into audit_event (id, occurred_at, type, user_id, actor_type, details)
       select gen_random_uuid(), now() - interval '1 day' + (g / 5) * interval '1 microsecond',
              'login.failed', null, 'anonymous', jsonb_build_object('n', g)
         from generate_series(1, 3000) g`,
    );
    const before = (await sql<{ id: string }>('select id from audit_event')).map((r) => r.id);
    let added = 0;
    const { events, pages } = await allPages(null, 200, async () => {
      // Logins and planted events land while the pages are read: newer than the first page, so
      // in none of the later ones.
      expect((await c.login('mini', `aev-pager-${++added}`)).errors).toBeUndefined();
      await sql(
        `insert into audit_event (id, occurred_at, type, actor_type) values (gen_random_uuid(), now(), 'login.failed', 'anonymous')`,
      );
    });
    const ids = events.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    // Every event there was before the first page, and the first page's own read.
    expect(ids.length).toBe(before.length + 1);
    expect(new Set(ids)).toEqual(new Set([...before, ids[0]!]));
    expect(events[0]!.type).toBe('admin.read');
    expect(pages).toBe(Math.ceil(ids.length / 200));
    await expectNewestFirst(events);
    expect(added).toBe(pages - 1);
  });

  it('narrows by user, type and time, each page of a filter continuing that filter', async () => {
    const ben = (await c.loginAs('mini', 'aev-ben')).user.id;
    for (let i = 0; i < 4; i++) expect((await c.login('mini', 'aev-ben')).errors).toBeUndefined();
    // Someone else's events between Ben's.
    expect((await c.login('mini', 'aev-other')).errors).toBeUndefined();
    const disable = await adminGql(
      writeKey,
      'mutation ($id: ID!) { disableUser(id: $id, reason: "test") { id } }',
      { id: ben },
    );
    expect(disable.errors).toBeUndefined();

    const benLogins = await allPages({ userId: ben, type: 'login.succeeded' }, 2);
    expect(benLogins.events).toHaveLength(5);
    expect(benLogins.pages).toBe(3);
    expect(new Set(benLogins.events.map((e) => e.userId))).toEqual(new Set([ben]));
    expect(benLogins.events.at(-1)!.details).toMatchObject({ isNewUser: true });
    await expectNewestFirst(benLogins.events);

    const disables = (await allPages({ type: 'user.disabled' }, 50)).events;
    expect(disables).toHaveLength(1);
    expect(disables[0]).toMatchObject({ userId: ben, actorType: 'ADMIN_KEY', actorName: 'ops' });

    // A time window: the middle three of Ben's five logins.
    const times = benLogins.events.map((e) => e.occurredAt).reverse();
    const window = await allPages(
      { userId: ben, type: 'login.succeeded', since: times[1], until: times[4] },
      50,
    );
    expect(window.events.map((e) => e.occurredAt).reverse()).toEqual(times.slice(1, 4));
    // Nothing before the first login of all.
    expect((await allPages({ userId: ben, until: benLogins.events.at(-1)!.occurredAt }, 50)).events).toEqual(
      [],
    );
    // A user that never was: no error, and only the read of their events (a read names whom it read).
    const nobody = '00000000-0000-4000-8000-000000000000';
    const none = await adminGql(readKey, PAGE, { filter: { userId: nobody, type: 'login.succeeded' } });
    expect(none.data!.auditEvents).toEqual({ nodes: [], pageInfo: { endCursor: null, hasNextPage: false } });
    const reads = (await allPages({ userId: nobody }, 50)).events;
    expect(reads.map((e) => [e.type, e.userId, e.details])).toEqual([
      ['admin.read', nobody, { field: 'auditEvents', filters: ['userId'] }],
      ['admin.read', nobody, { field: 'auditEvents', filters: ['userId', 'type'] }],
    ]);
  });

  it('keeps nothing at `until` itself, whatever cursor comes with it', async () => {
    // Two events at one instant; a cursor at that instant after the later id, and `until` equal to it.
    const at = '2026-01-01 00:00:00+00';
    const [early, late] = ['00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-00000000000b'];
    await sql(
      `insert into audit_event (id, occurred_at, type, actor_type) values
       (?, ?, 'login.failed', 'anonymous'), (?, ?, 'login.failed', 'anonymous'),
       (gen_random_uuid(), ?::timestamptz - interval '1 second', 'login.failed', 'anonymous')`,
      [early, at, late, at, at],
    );
    const cursor = Buffer.from(JSON.stringify([at, late])).toString('base64url');
    const answer = await adminGql(readKey, PAGE, {
      filter: { type: 'login.failed', until: '2026-01-01T00:00:00Z' },
      first: 5,
      after: cursor,
    });
    const nodes = answer.data!.auditEvents.nodes as EventNode[];
    expect(nodes.map((n) => n.occurredAt)).toEqual(['2025-12-31T23:59:59.000Z']);
    // The same cursor without `until`: the earlier event at that instant comes first.
    const without = await adminGql(readKey, PAGE, {
      filter: { type: 'login.failed' },
      first: 1,
      after: cursor,
    });
    expect((without.data!.auditEvents.nodes as EventNode[]).map((n) => n.id)).toEqual([early]);
  });

  it('keeps every admin mutation: a refused one (validation failures too) and one that changed nothing', async () => {
    const carl = (await c.loginAs('mini', 'aev-carl')).user.id;
    const enabled = await adminGql(writeKey, 'mutation ($id: ID!) { enableUser(id: $id) { id } }', {
      id: carl,
    });
    expect(enabled.errors).toBeUndefined();
    // No reason: refused by validation, before the operation is named.
    const invalid = await adminGql(writeKey, 'mutation ($id: ID!) { disableUser(id: $id) { id } }', {
      id: carl,
    });
    expect(invalid.errors![0]!.extensions!.code).toBe('GRAPHQL_VALIDATION_FAILED');
    const byRead = await adminGql(readKey, 'mutation ($id: ID!) { revokeSessions(userId: $id) }', {
      id: carl,
    });
    expect(byRead.errors![0]!.extensions!.code).toBe('FORBIDDEN');
    const unparsable = await adminGql(writeKey, 'mutation { revokeSessions(');
    expect(unparsable.errors![0]!.extensions!.code).toBe('GRAPHQL_PARSE_FAILED');

    const kept = await sql<{
      type: string;
      user_id: string | null;
      error_code: string | null;
      details: Json;
      actor_name: string;
    }>(
      `select type, user_id, error_code, details, actor_name from audit_event
        where actor_type = 'admin_key' and type <> 'admin.read' and (user_id = ? or type = 'admin.refused')
        order by occurred_at, id`,
      [carl],
    );
    expect(kept.slice(-3)).toEqual([
      {
        type: 'user.enabled',
        user_id: carl,
        error_code: null,
        details: { already: true },
        actor_name: 'ops',
      },
      {
        type: 'admin.refused',
        user_id: null,
        error_code: 'GRAPHQL_VALIDATION_FAILED',
        details: { fields: ['disableUser'] },
        actor_name: 'ops',
      },
      {
        type: 'admin.refused',
        user_id: null,
        error_code: 'FORBIDDEN',
        details: { fields: ['revokeSessions'] },
        actor_name: 'auditor',
      },
    ]);
  });

  it('refuses bad arguments with BAD_USER_INPUT and the field, and callers without a key', async () => {
    const cases: [Json, string][] = [
      [{ filter: { type: 'login.whatever' } }, 'type'],
      [{ filter: { type: "login.succeeded' or 1=1 --" } }, 'type'],
      [{ filter: { userId: 'not-a-uuid' } }, 'userId'],
      [{ first: 0 }, 'first'],
      [{ first: 201 }, 'first'],
      [{ after: 'nope' }, 'after'],
      [{ after: Buffer.from('["2026-12-07 04:12:33+00","x"]').toString('base64url') }, 'after'],
      [{ after: 'x'.repeat(10_000) }, 'after'],
      [{ after: '' }, 'after'],
      // The shape of a cursor, with fields out of range: the database would refuse them.
      [
        {
          after: Buffer.from(
            `["2026-99-99 99:99:99+99","${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}"]`,
          ).toString('base64url'),
        },
        'after',
      ],
      [
        {
          after: Buffer.from(
            `["2026-02-30 10:00:00+00","${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}"]`,
          ).toString('base64url'),
        },
        'after',
      ],
    ];
    const eventsBefore = await sql<{ n: number }>('select count(*)::int as n from audit_event');
    for (const [variables, field] of cases) {
      const answer = await adminGql(readKey, PAGE, variables);
      expect(answer.status).toBe(200);
      expect(answer.data).toBeNull();
      expect(answer.errors![0]!.extensions).toEqual({ code: 'BAD_USER_INPUT', field });
    }
    // A refused read reads nothing, so it is no read: nothing was written.
    expect(await sql<{ n: number }>('select count(*)::int as n from audit_event')).toEqual(eventsBefore);
    const badTime = await adminGql(readKey, PAGE, { filter: { since: 'yesterday' } });
    expect(badTime.errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');

    const token = (await c.loginAs('mini', 'aev-user')).accessToken;
    for (const key of [null, token, 'adm_' + 'A'.repeat(43)]) {
      const answer = await adminGql(key, PAGE);
      expect(answer.status).toBe(401);
      expect(answer.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
    }
    // Not in the public schema.
    const publicAnswer = await c.gql('{ auditEvents { nodes { id } } }');
    expect(publicAnswer.errors![0]!.extensions!.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });
});
