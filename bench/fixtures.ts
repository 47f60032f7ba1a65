import pg from 'pg';
import { WebStateService } from '../src/logins/web-state.service.js';
import type { BenchOptions } from './options.js';
import { APPS, AUTH_SECRET, post, REDIRECT, type AppName, type Servers } from './processes.js';

/**
 * What the scenarios are set up with: returning users (registered through our server before any
 * run), fresh WeChat codes minted in batches by the emulator, web states issued with the server's
 * own WebStateService, bearer tokens for `me` and planted refresh tokens.
 */

export const QUERIES = {
  mini: 'mutation ($input: WechatMiniLoginInput!) { wechatMiniLogin(input: $input) { accessToken refreshToken isNewUser user { id } } }',
  app: 'mutation ($input: WechatAppLoginInput!) { wechatAppLogin(input: $input) { accessToken refreshToken isNewUser user { id } } }',
  web: 'mutation ($input: WechatWebLoginInput!) { wechatWebLogin(input: $input) { accessToken refreshToken isNewUser user { id } } }',
  me: 'query { me { id } }',
  refresh: 'mutation ($t: String!) { refreshSession(refreshToken: $t) { accessToken refreshToken } }',
};

export interface Fixtures {
  /** A run's worth of codes of returning users, round robin over them. */
  returning(app: AppName): Promise<string[]>;
  /** A run's worth of codes of people never seen before. */
  newcomers(): Promise<string[]>;
  /** A run's worth of unused refresh tokens (they are single use), planted by hash. */
  plantRefreshTokens(): Promise<string[]>;
  /** A web login's input: the code and a fresh state for the redirect URI. */
  webInput(code: string): { code: string; state: string; redirectUri: string };
  /** Bearer tokens of one returning user, each server its own (the baseline signs with its own key). */
  tokens: { ours: string; baseline: string };
}

type Codes = (app: AppName, keys: string[]) => Promise<string[]>;

/** Registers the returning users through our server, then gets the bearer tokens. */
export async function prepareFixtures(
  options: BenchOptions,
  servers: Servers,
  dbUrl: string,
): Promise<Fixtures> {
  const users = Array.from({ length: options.users }, (_, i) => `u${i}`);
  const codes: Codes = async (app, keys) =>
    (
      await post<{ codes: string[] }>(`${servers.emulatorUrl}/__emulator/codes/batch`, {
        appid: APPS[app].appid,
        users: keys,
      })
    ).codes;
  const states = new WebStateService({ authSecret: AUTH_SECRET, ttlSeconds: 3600 });
  const webApp = {
    kind: 'web',
    appId: APPS.web.appid,
    secret: APPS.web.secret,
    redirectUris: [REDIRECT],
  } as const;
  const webInput = (code: string) => ({
    code,
    state: states.issue(webApp, REDIRECT),
    redirectUri: REDIRECT,
  });
  await registerReturningUsers(servers.ours.url, users, codes, webInput);

  const budget = options.duration * 6000; // codes per run: more than this machine can use
  let fresh = 0;
  let planted = 0;
  return {
    returning: (app) =>
      codes(
        app,
        Array.from({ length: budget }, (_, i) => users[i % options.users]!),
      ),
    newcomers: () =>
      codes(
        'mini',
        Array.from({ length: budget }, () => `new${fresh++}`),
      ),
    plantRefreshTokens: () => {
      const from = planted;
      planted += budget;
      return plantRefreshTokens(dbUrl, from, budget);
    },
    webInput,
    tokens: await bearerTokens(options, servers, codes),
  };
}

/** Each returning user logs in once from the mini program, the app and the web, 50 at a time. */
async function registerReturningUsers(
  oursUrl: string,
  users: string[],
  codes: Codes,
  webInput: Fixtures['webInput'],
): Promise<void> {
  for (const app of ['mini', 'app', 'web'] as const) {
    const list = await codes(app, users);
    for (let i = 0; i < list.length; i += 50) {
      await Promise.all(
        list.slice(i, i + 50).map(async (code) => {
          const input = app === 'web' ? webInput(code) : { code };
          const body = await post<{ errors?: unknown }>(`${oursUrl}/graphql`, {
            query: QUERIES[app],
            variables: { input },
          });
          if (body.errors) throw new Error(`warm-up ${app}: ${JSON.stringify(body.errors)}`);
        }),
      );
    }
  }
}

/**
 * Bearer tokens for `me`: user u0 logs in from the mini program on each server (with --vs, by the
 * same GraphQL mutation: a token names its issuer, the server's PUBLIC_URL, which differs by port).
 */
async function bearerTokens(
  options: BenchOptions,
  servers: Servers,
  codes: Codes,
): Promise<Fixtures['tokens']> {
  const [oursCode, baseCode] = await codes('mini', ['u0', 'u0']);
  const graphqlLogin = async (url: string, code: string) =>
    (
      await post<{ data: { wechatMiniLogin: { accessToken: string } } }>(`${url}/graphql`, {
        query: QUERIES.mini,
        variables: { input: { code } },
      })
    ).data.wechatMiniLogin.accessToken;
  const ours = await graphqlLogin(servers.ours.url, oursCode!);
  if (options.vsDir) return { ours, baseline: await graphqlLogin(servers.baseline.url, baseCode!) };
  const baseline = (
    await post<{ data: { accessToken: string } }>(`${servers.baseline.url}/login/mini`, { code: baseCode })
  ).data.accessToken;
  return { ours, baseline };
}

/** `count` refresh tokens rt_bench_<from + 1>…, each in a session of its own of one returning user. */
async function plantRefreshTokens(dbUrl: string, from: number, count: number): Promise<string[]> {
  const client = new pg.Client({ connectionString: dbUrl });
  await client.connect();
  await client.query(
    `with u as (select user_id from user_login_method where open_id is not null limit 1),
          s as (insert into session (id, created_at, updated_at, last_used_at, user_id, expires_at)
                select gen_random_uuid(), now(), now(), now(), u.user_id, now() + interval '1 day' from u, generate_series(1, $1)
                returning id)
     insert into refresh_token (token_hash, session_id, created_at)
     select rtrim(translate(encode(sha256(convert_to('rt_bench_' || ($2 + row_number() over ()), 'UTF8')), 'base64'), '+/', '-_'), '='), id, now()
     from s`,
    [count, from],
  );
  await client.end();
  return Array.from({ length: count }, (_, i) => `rt_bench_${from + i + 1}`);
}
