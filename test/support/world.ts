import { randomUUID } from 'node:crypto';
import type { EmulatorApp } from '../../src/emulator/apps.js';
import { createEmulator, type Emulator } from '../../src/emulator/emulator.js';
import { emulatorControl } from './emulator.js';
import type { GraphQLBody } from './graphql.js';
import type { AppDeps } from '../../src/server/app.js';
import { startTestServer, type TestServer } from './server.js';
import { sqlOf } from './sql.js';

export const AUTH_SECRET = 'test-auth-secret-0123456789-abcdefghijklmnop';

export const APPS = {
  web: { appid: 'wxtestweb', secret: 'secret-web-4f1c2a', kind: 'web', bound: true },
  app: { appid: 'wxtestapp', secret: 'secret-app-9b7e3d', kind: 'app', bound: true },
  mini: { appid: 'wxtestmini', secret: 'secret-mini-2c8a5f', kind: 'mini', bound: true },
  official: { appid: 'wxtestoa', secret: 'secret-oa-7d3e1b', kind: 'official', bound: true },
} as const satisfies Record<string, EmulatorApp>;

type AppRole = keyof typeof APPS;

export interface World {
  emulator: Emulator;
  t: TestServer;
  /** Mints a code as if `user` confirmed a login in that app. */
  code(appid: string, user: string): Promise<string>;
  emulatorPost<T = Record<string, unknown>>(path: string, body: unknown): Promise<T>;
  /** Paths of the WeChat API calls the emulator has seen since the last reset. */
  wechatCalls(): Promise<string[]>;
  gql<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    headers?: Record<string, string>,
  ): Promise<GraphQLBody<T>>;
  /** Rows in user / user_login_method / session. */
  counts(): Promise<{ users: number; methods: number; sessions: number }>;
  stop(): Promise<void>;
}

/** The environment that points a server at an emulator playing these apps, with a fixed AUTH_SECRET. */
export function wechatEnv(apps: Record<AppRole, EmulatorApp>, emulatorUrl: string): Record<string, string> {
  return {
    AUTH_SECRET,
    WECHAT_API_BASE_URL: emulatorUrl,
    WECHAT_OPEN_BASE_URL: emulatorUrl,
    WECHAT_WEB_APPID: apps.web.appid,
    WECHAT_WEB_SECRET: apps.web.secret,
    WECHAT_APP_APPID: apps.app.appid,
    WECHAT_APP_SECRET: apps.app.secret,
    WECHAT_MINI_APPID: apps.mini.appid,
    WECHAT_MINI_SECRET: apps.mini.secret,
    WECHAT_OA_APPID: apps.official.appid,
    WECHAT_OA_SECRET: apps.official.secret,
  };
}

/**
 * The server on a fresh database, talking over real HTTP to an emulator of its own that plays the
 * given apps (all four bound by default).
 */
export async function startWorld(
  options: {
    apps?: Partial<Record<AppRole, EmulatorApp>>;
    /** More apps the emulator plays (a second mini program, …), beside the four. */
    extraApps?: EmulatorApp[];
    env?: Record<string, string>;
    /** Shorter webhook retries and timeout than production's. */
    webhookSettings?: AppDeps['webhookSettings'];
    /** How long the emulator keeps an idle connection open (its default: 5 s). */
    emulatorKeepAliveMs?: number;
  } = {},
): Promise<World> {
  const apps = { ...APPS, ...options.apps };
  const emulator = await createEmulator({
    apps: [...Object.values(apps), ...(options.extraApps ?? [])],
    keepAliveTimeoutMs: options.emulatorKeepAliveMs,
  });
  const t = await startTestServer(
    {
      ...wechatEnv(apps, emulator.url),
      WECHAT_TIMEOUT_MS: '2000',
      ...options.env,
    },
    { webhookSettings: options.webhookSettings },
  ).catch(async (error: unknown) => {
    await emulator.close();
    throw error;
  });
  const control = emulatorControl(emulator.url);
  return {
    emulator,
    t,
    emulatorPost: control.post,
    code: control.code,
    wechatCalls: control.wechatCalls,
    async gql(query, variables, headers) {
      return (await t.graphql(query, variables, headers)).body as GraphQLBody<never>;
    },
    async counts() {
      const [row] = await sqlOf(t)<{ users: string; methods: string; sessions: string }>(
        `select (select count(*) from "user") as users, (select count(*) from user_login_method) as methods,
                (select count(*) from session) as sessions`,
      );
      return { users: Number(row!.users), methods: Number(row!.methods), sessions: Number(row!.sessions) };
    },
    async stop() {
      try {
        await t.stop();
      } finally {
        await emulator.close();
      }
    },
  };
}

const METHOD_KINDS = {
  web: 'WECHAT_WEB',
  app: 'WECHAT_APP',
  mini: 'WECHAT_MINI',
  official: 'WECHAT_OFFICIAL_ACCOUNT',
} as const satisfies Record<AppRole, string>;

/**
 * `person`'s user with their identity in the world's app of `role` and their unionid, written
 * straight into the database, as an earlier registration left it (a world with
 * REGISTRATION=closed registers nobody). The user's id.
 */
export async function insertUser(w: World, person: string, role: AppRole = 'mini'): Promise<string> {
  const sql = sqlOf(w.t);
  const userId = randomUUID();
  const unionId = w.emulator.people.unionidOf(person);
  const appId = APPS[role].appid;
  await sql(`insert into "user" (id, union_id, created_at, updated_at) values (?, ?, now(), now())`, [
    userId,
    unionId,
  ]);
  await sql(
    `insert into user_login_method (id, user_id, kind, app_id, open_id, union_id, last_login_at, created_at, updated_at)
     values (?, ?, ?, ?, ?, ?, now(), now(), now())`,
    [randomUUID(), userId, METHOD_KINDS[role], appId, w.emulator.people.openid(appId, person), unionId],
  );
  return userId;
}

export const LOGIN_FIELDS = `accessToken refreshToken expiresAt isNewUser otherAccountExists
  user { id nickname avatarUrl createdAt loginMethods { kind appId openId unionId lastLoginAt } }`;

export const MINI_LOGIN = `mutation ($input: WechatMiniLoginInput!) { wechatMiniLogin(input: $input) { ${LOGIN_FIELDS} } }`;
export const APP_LOGIN = `mutation ($input: WechatAppLoginInput!) { wechatAppLogin(input: $input) { ${LOGIN_FIELDS} } }`;
export const WEB_LOGIN = `mutation ($input: WechatWebLoginInput!) { wechatWebLogin(input: $input) { ${LOGIN_FIELDS} } }`;
export const AUTHORIZE_URL = `query ($redirectUri: String!) { wechatWebAuthorizeUrl(redirectUri: $redirectUri) { url state } }`;
export const OA_LOGIN = `mutation ($input: WechatOfficialAccountLoginInput!) { wechatOfficialAccountLogin(input: $input) { ${LOGIN_FIELDS} } }`;
export const OA_AUTHORIZE_URL = `query ($redirectUri: String!, $scope: WechatOAuthScope, $codeChallenge: String, $appId: String) {
  wechatOfficialAccountAuthorizeUrl(redirectUri: $redirectUri, scope: $scope, codeChallenge: $codeChallenge, appId: $appId) { url state }
}`;

/**
 * A login's answer to LOGIN_FIELDS: the generated type of the typed client (test/support/client.ts),
 * for the files that still send the documents above themselves.
 */
export type { Session as LoginPayload } from './client.js';
