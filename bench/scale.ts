import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { sha256 } from '../src/crypto/keys.js';
import { valuesOf, type Statement } from '../src/db/sql.js';
import { DEFAULT_SEED, People } from '../src/emulator/core.js';
import { RETURNING_LOGIN, sessionParams } from '../src/sessions/login.repository.js';
import { OPEN_SESSION_USER, ROTATE } from '../src/sessions/session.repository.js';
import { QUERIES } from './fixtures.js';
import { measureRun, warmUp, type Figures, type Requests } from './measure.js';
import type { BenchOptions } from './options.js';
import {
  APPS,
  createDatabase,
  post,
  setWechatLatency,
  startEmulator,
  startOurs,
  stopProcesses,
  type AppName,
  type Server,
} from './processes.js';
import { printReport, type Measured } from './report.js';

/**
 * `npm run bench -- --scale`: what a big user base changes. Two databases on the same PostgreSQL,
 * one seeded with --scale-users' first size (1,000) and one with its second (1,000,000) users, each
 * with a mini program, an app and a website login method (the emulator's own openids and unionid,
 * so its codes log them in) and an open session with a refresh token; then VACUUM (FREEZE, ANALYZE)
 * and a CHECKPOINT, as a database that has been running a while is. Our server runs on each, and
 * the hot scenarios run on both, interleaved, with traffic spread over every seeded user: returning
 * logins of users drawn at random, refreshes of tokens of random sessions, `me` with the tokens of
 * 5,000 random sessions. The table shows the big database as "ours" and the small one as "base":
 * the ratio is big / small. Then the plans of the hot statements on the big database, as the
 * server runs them (generic plans of prepared statements), with their buffers and WAL.
 */

const SEED_BATCH = 10_000;
const ME_SESSIONS = 5_000;
const LOGIN_APPS = ['mini', 'app', 'web'] as const;
const KIND: Record<(typeof LOGIN_APPS)[number], string> = {
  mini: 'WECHAT_MINI',
  app: 'WECHAT_APP',
  web: 'WECHAT_WEB',
};

/** `count` users s0…s<count-1>, as the emulator knows them, each with three login methods and a session. */
export async function seedUsers(dbUrl: string, count: number): Promise<void> {
  const people = new People(DEFAULT_SEED);
  const client = new pg.Client({ connectionString: dbUrl });
  await client.connect();
  try {
    for (let from = 0; from < count; from += SEED_BATCH) {
      const n = Math.min(SEED_BATCH, count - from);
      const users: string[] = [];
      const unions: string[] = [];
      const sessions: string[] = [];
      const tokens: string[] = [];
      const methods = { id: [] as string[], user: [] as string[], kind: [] as string[], app: [] as string[] };
      const openIds: string[] = [];
      const methodUnions: string[] = [];
      for (let i = from; i < from + n; i++) {
        const key = `s${i}`;
        const user = randomUUID();
        const union = people.unionidOf(key);
        users.push(user);
        unions.push(union);
        sessions.push(randomUUID());
        tokens.push(sha256(`rt_seed_${i}`));
        for (const app of LOGIN_APPS) {
          methods.id.push(randomUUID());
          methods.user.push(user);
          methods.kind.push(KIND[app]);
          methods.app.push(APPS[app].appid);
          openIds.push(people.openid(APPS[app].appid, key));
          methodUnions.push(union);
        }
      }
      await client.query('begin');
      await client.query(
        `insert into "user" (id, created_at, updated_at, union_id)
         select id, now(), now(), union_id from unnest($1::uuid[], $2::text[]) as t(id, union_id)`,
        [users, unions],
      );
      await client.query(
        `insert into user_login_method
           (id, created_at, updated_at, user_id, kind, app_id, open_id, union_id, last_login_at, profile_refreshed_at)
         select id, now(), now(), user_id, kind, app_id, open_id, union_id, now(), now()
           from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[])
             as t(id, user_id, kind, app_id, open_id, union_id)`,
        [methods.id, methods.user, methods.kind, methods.app, openIds, methodUnions],
      );
      await client.query(
        `insert into session (id, created_at, updated_at, last_used_at, user_id, expires_at)
         select id, now(), now(), now(), user_id, now() + interval '30 days'
           from unnest($1::uuid[], $2::uuid[]) as t(id, user_id)`,
        [sessions, users],
      );
      await client.query(
        `insert into refresh_token (token_hash, session_id, created_at)
         select token_hash, session_id, now() from unnest($1::text[], $2::uuid[]) as t(token_hash, session_id)`,
        [tokens, sessions],
      );
      await client.query('commit');
    }
    await client.query('vacuum (freeze, analyze)');
    await client.query('checkpoint');
  } finally {
    await client.end();
  }
}

/** One seeded database with our server on it, and what its scenarios send. */
interface Side {
  users: number;
  server: Server;
  dbUrl: string;
  sizeMiB: number;
  /** A run's worth of codes of random seeded users in one app. */
  returning(app: AppName): Promise<string[]>;
  /** A run's worth of codes of people never seen before, in the mini program. */
  newcomers(): Promise<string[]>;
  /** A run's worth of unused refresh tokens, each in a random seeded session. */
  refreshTokens(): Promise<string[]>;
  /** Access tokens of ME_SESSIONS random sessions (by refreshing their planted tokens). */
  meTokens: string[];
}

const randomKeys = (users: number, count: number) =>
  Array.from({ length: count }, () => `s${Math.floor(Math.random() * users)}`);

async function prepareSide(
  options: BenchOptions,
  emulatorUrl: string,
  users: number,
  label: string,
  out: (line?: string) => void,
  /** Where what must be undone at the end goes, as soon as there is something. */
  cleanup: (() => Promise<void>)[],
): Promise<Side> {
  const database = await createDatabase(label);
  cleanup.push(database.drop);
  const server = await startOurs(options, database.url, emulatorUrl);
  const started = Date.now();
  await seedUsers(database.url, users);
  const budget = options.duration * 6000;
  let planted = 0;
  let fresh = 0;
  const codes = async (app: AppName, keys: string[]) =>
    (
      await post<{ codes: string[] }>(`${emulatorUrl}/__emulator/codes/batch`, {
        appid: APPS[app].appid,
        users: keys,
      })
    ).codes;
  const plant = async (count: number) => {
    const from = planted;
    planted += count;
    return plantInRandomSessions(database.url, users, from, count);
  };
  const meTokens = await accessTokensOf(server.url, await plant(ME_SESSIONS));
  const sizeMiB = await databaseSizeMiB(database.url);
  out(
    `seeded ${users.toLocaleString('en')} users in ${((Date.now() - started) / 1000).toFixed(0)} s: ${sizeMiB} MiB`,
  );
  return {
    users,
    server,
    dbUrl: database.url,
    sizeMiB,
    returning: (app) => codes(app, randomKeys(users, budget)),
    newcomers: () =>
      codes(
        'mini',
        Array.from({ length: budget }, () => `n${fresh++}`),
      ),
    refreshTokens: () => plant(budget),
    meTokens,
  };
}

/**
 * `count` refresh tokens rt_scale_<from + 1>…, each added to the session of a random seeded user
 * (its token rotated since: the session is being refreshed), planted by hash.
 */
async function plantInRandomSessions(
  dbUrl: string,
  users: number,
  from: number,
  count: number,
): Promise<string[]> {
  const tokens = Array.from({ length: count }, (_, i) => `rt_scale_${from + i + 1}`);
  const client = new pg.Client({ connectionString: dbUrl });
  await client.connect();
  try {
    await client.query(
      `insert into refresh_token (token_hash, session_id, created_at)
       select h.token_hash, s.id, now()
         from unnest($1::text[], $2::text[]) as h(token_hash, open_id)
         join user_login_method lm on lm.app_id = $3 and lm.open_id = h.open_id
         cross join lateral (select id from session where user_id = lm.user_id order by created_at limit 1) s`,
      [tokens.map(sha256), randomOpenIds(users, count), APPS.mini.appid],
    );
  } finally {
    await client.end();
  }
  return tokens;
}

const people = new People(DEFAULT_SEED);
const randomOpenIds = (users: number, count: number) =>
  randomKeys(users, count).map((key) => people.openid(APPS.mini.appid, key));

/** Access tokens for `me`: each planted refresh token refreshed once through the server, 50 at a time. */
async function accessTokensOf(url: string, refreshTokens: string[]): Promise<string[]> {
  const tokens: string[] = [];
  for (let i = 0; i < refreshTokens.length; i += 50) {
    const answers = await Promise.all(
      refreshTokens.slice(i, i + 50).map((t) =>
        post<{ data?: { refreshSession: { accessToken: string } }; errors?: unknown }>(`${url}/graphql`, {
          query: QUERIES.refresh,
          variables: { t },
        }),
      ),
    );
    for (const answer of answers) {
      if (!answer.data) throw new Error(`refresh for me's tokens: ${JSON.stringify(answer.errors)}`);
      tokens.push(answer.data.refreshSession.accessToken);
    }
  }
  return tokens;
}

async function databaseSizeMiB(dbUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: dbUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ size: string }>(
      'select pg_database_size(current_database()) as size',
    );
    return Math.round(Number(rows[0]!.size) / 2 ** 20);
  } finally {
    await client.end();
  }
}

const gqlBody = (query: string, variables: unknown) => JSON.stringify({ query, variables });
const cycle = (list: string[]) => {
  let i = 0;
  return () => list[i++ % list.length]!;
};

/** A login scenario: a run's codes from `codes`, sent as `query`'s input. */
const login = (
  key: string,
  name: string,
  query: string,
  codes: (side: Side) => Promise<string[]>,
): { key: string; name: string; requests: (side: Side) => Promise<Requests> } => ({
  key,
  name,
  requests: async (side) => {
    const code = cycle(await codes(side));
    return { path: '/graphql', next: () => gqlBody(query, { input: { code: code() } }) };
  },
});

/** The hot scenarios on one side: what one request is. */
const SCENARIOS: { key: string; name: string; requests: (side: Side) => Promise<Requests> }[] = [
  login('mini', 'mini login, returning', QUERIES.mini, (side) => side.returning('mini')),
  login('new', 'mini login, new user', QUERIES.mini, (side) => side.newcomers()),
  login('app', 'app login, returning', QUERIES.app, (side) => side.returning('app')),
  {
    key: 'me',
    name: 'me (with a token)',
    requests: async (side) => {
      const token = cycle(side.meTokens);
      return {
        path: '/graphql',
        next: () => gqlBody(QUERIES.me, {}),
        authorization: () => `Bearer ${token()}`,
      };
    },
  },
  {
    key: 'refresh',
    name: 'refreshSession',
    requests: async (side) => {
      const t = cycle(await side.refreshTokens());
      return { path: '/graphql', next: () => gqlBody(QUERIES.refresh, { t: t() }) };
    },
  },
];

/** A value as an SQL literal, for EXECUTE's arguments. */
const literal = (value: unknown): string =>
  value === null || value === undefined
    ? 'NULL'
    : `'${(value instanceof Date ? value.toISOString() : String(value)).replaceAll("'", "''")}'`;

/**
 * EXPLAIN (ANALYZE, BUFFERS, WAL) of one statement prepared by name and run with its generic plan
 * (the plan the server's prepared statements settle on), in a transaction rolled back.
 */
async function explain<P extends string>(
  client: pg.Client,
  statement: Statement<P, unknown>,
  params: Record<P, unknown>,
): Promise<string> {
  await client.query('begin');
  try {
    await client.query('set local plan_cache_mode = force_generic_plan');
    await client.query(`prepare hot as ${statement.numbered}`);
    const { rows } = await client.query<{ 'QUERY PLAN': string }>(
      `explain (analyze, buffers, wal, costs off, summary off) execute hot(${valuesOf(statement, params).map(literal).join(', ')})`,
    );
    return rows.map((row) => `    ${row['QUERY PLAN']}`).join('\n');
  } finally {
    await client.query('rollback');
    await client.query('deallocate all');
  }
}

/** The plans of the returning login, `me`'s read and the refresh rotation on one side's database. */
async function printPlans(side: Side, out: (line?: string) => void): Promise<void> {
  const client = new pg.Client({ connectionString: side.dbUrl });
  await client.connect();
  try {
    const key = `s${Math.floor(Math.random() * side.users)}`;
    const openId = people.openid(APPS.mini.appid, key);
    const { rows } = await client.query<{ sessionId: string; userId: string }>(
      `select s.id as "sessionId", s.user_id as "userId"
         from user_login_method lm join session s on s.user_id = lm.user_id
        where lm.app_id = $1 and lm.open_id = $2 limit 1`,
      [APPS.mini.appid, openId],
    );
    const { sessionId, userId } = rows[0]!;
    const [token] = await plantInRandomSessions(side.dbUrl, side.users, 1e9, 1);
    const now = new Date();
    const device = { userAgent: 'bench', ipPrefix: '127.0.0.0/24' };
    const plans: [string, string][] = [
      [
        'returning mini login (RETURNING_LOGIN)',
        await explain(client, RETURNING_LOGIN, {
          now,
          accessCode: null,
          appId: APPS.mini.appid,
          openId,
          unionId: people.unionidOf(key),
          profileFreshAfter: null,
          ...sessionParams({
            sessionId: randomUUID(),
            expiresAt: now,
            tokenHash: sha256(randomUUID()),
            device,
          }),
          requestId: null,
          auditDetails: '{}',
        }),
      ],
      ['me (OPEN_SESSION_USER)', await explain(client, OPEN_SESSION_USER, { sessionId, userId, now })],
      [
        'refreshSession (ROTATE)',
        await explain(client, ROTATE, {
          now,
          graceStart: new Date(now.getTime() - 60_000),
          presentedHash: sha256(token!),
          newHash: sha256(randomUUID()),
          ...device,
        }),
      ],
    ];
    out(`plans on the ${side.users.toLocaleString('en')}-user database (${side.sizeMiB} MiB), generic:`);
    for (const [name, plan] of plans) {
      out(`  ${name}`);
      out(plan);
    }
  } finally {
    await client.end();
  }
}

export async function measureScale(options: BenchOptions, out: (line?: string) => void): Promise<number> {
  const [small, large] = options.scaleUsers;
  const emulatorUrl = await startEmulator();
  await setWechatLatency(emulatorUrl, options.wechatLatency);
  const sides: Side[] = [];
  const cleanup: (() => Promise<void>)[] = [];
  try {
    sides.push(await prepareSide(options, emulatorUrl, small!, 'small', out, cleanup));
    sides.push(await prepareSide(options, emulatorUrl, large!, 'large', out, cleanup));
    const [smallSide, largeSide] = [sides[0]!, sides[1]!];
    const scenarios = SCENARIOS.filter((scenario) => options.only.has(scenario.key));
    for (const scenario of scenarios)
      for (const side of sides)
        await warmUp(side.server.url, options.connections, await scenario.requests(side));
    const measured: Measured[] = scenarios.map((scenario) => ({
      name: scenario.name,
      ours: [],
      baseline: [],
    }));
    for (let round = 0; round < options.rounds; round++) {
      for (const [i, scenario] of scenarios.entries()) {
        for (const [side, runs] of [
          [largeSide, measured[i]!.ours],
          [smallSide, measured[i]!.baseline],
        ] as [Side, Figures[]][]) {
          runs.push(
            await measureRun(
              options,
              emulatorUrl,
              side.server,
              await scenario.requests(side),
              options.connections,
            ),
          );
        }
      }
    }
    out();
    out(
      `"ours": the server on ${large!.toLocaleString('en')} seeded users (${largeSide.sizeMiB} MiB); ` +
        `"base": the same server on ${small!.toLocaleString('en')} (${smallSide.sizeMiB} MiB); ratio: big / small`,
    );
    const errors = printReport(options, new URL(largeSide.dbUrl).host, measured, {
      emulatorUrl,
      ours: largeSide.server,
      baseline: smallSide.server,
    });
    out();
    await printPlans(smallSide, out);
    await printPlans(largeSide, out);
    return errors;
  } finally {
    await stopProcesses();
    for (const drop of cleanup) await drop();
  }
}
