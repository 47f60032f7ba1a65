import { z } from 'zod';
import { commaList, listProblem, refuse, type Env } from './env.js';

/** The kinds of WeChat app a login comes from: website (QR), mobile app, mini program, official account. */
export const APP_KINDS = ['web', 'app', 'mini', 'official'] as const;
export type AppKind = (typeof APP_KINDS)[number];

/** The one-app variables' prefix of each kind: WECHAT_WEB_APPID, …, WECHAT_OA_APPID. */
const KIND_PREFIX: Record<AppKind, string> = { web: 'WEB', app: 'APP', mini: 'MINI', official: 'OA' };

/** Kinds whose logins come back to a redirect URI (an allowlist applies). */
const REDIRECT_KINDS: readonly AppKind[] = ['web', 'official'];

/** A WeChat app this server logs people in with. */
export interface WechatApp {
  kind: AppKind;
  appId: string;
  secret: string;
  /** Allowed redirect URIs (web and official only); null: any (development only). */
  redirectUris: string[] | null;
  /** An official account's server-configuration Token (服务器配置), for its event pushes. */
  token?: string;
  /** …and its EncodingAESKey (43 characters), for safe mode. */
  aesKey?: string;
}

/** WeChat's rules for the server configuration: a Token of 3-32 letters or digits, a 43-character key. */
const PUSH_TOKEN = /^[A-Za-z0-9]{3,32}$/;
const AES_KEY = /^[A-Za-z0-9]{43}$/;

/** The push settings of one official account, checked; problems reported on `variable`. */
function pushSettings(
  ctx: z.RefinementCtx,
  variable: string,
  where: string,
  token: string | undefined,
  aesKey: string | undefined,
): { token?: string; aesKey?: string } {
  if (token === undefined) {
    if (aesKey !== undefined) refuse(ctx, variable, `${where}an EncodingAESKey needs its Token too`);
    return {};
  }
  if (!PUSH_TOKEN.test(token)) refuse(ctx, variable, `${where}the Token must be 3 to 32 letters or digits`);
  if (aesKey !== undefined && !AES_KEY.test(aesKey)) {
    refuse(ctx, variable, `${where}the EncodingAESKey must be 43 letters or digits`);
  }
  return aesKey === undefined ? { token } : { token, aesKey };
}

function platform(
  env: Env,
  ctx: z.RefinementCtx,
  kind: AppKind,
): { appId: string; secret: string } | undefined {
  const name = KIND_PREFIX[kind];
  const appId = env[`WECHAT_${name}_APPID` as keyof Env] as string | undefined;
  const secret = env[`WECHAT_${name}_SECRET` as keyof Env] as string | undefined;
  if (appId && !secret) refuse(ctx, `WECHAT_${name}_SECRET`, `must be set when WECHAT_${name}_APPID is set`);
  if (secret && !appId) refuse(ctx, `WECHAT_${name}_APPID`, `must be set when WECHAT_${name}_SECRET is set`);
  return appId && secret ? { appId, secret } : undefined;
}

/** An appid as WeChat makes them (wx + 16 hex), loosely: letters, digits, _ and -. */
const APP_ID = /^[A-Za-z0-9_-]{1,64}$/;

const AppsSchema = z.array(
  z.preprocess(
    // EMULATOR_APPS spells it appid: take either.
    (v) =>
      v && typeof v === 'object' && 'appid' in v && !('appId' in v)
        ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k === 'appid' ? 'appId' : k, x]))
        : v,
    z
      .object({
        kind: z.enum(APP_KINDS, { error: `kind must be one of ${APP_KINDS.join(', ')}` }),
        appId: z.string().regex(APP_ID, 'appId must be 1-64 letters, digits, _ or -'),
        secret: z.string().trim().min(1, 'secret must not be empty'),
        redirectUris: z.array(z.string()).optional(),
        token: z.string().optional(),
        aesKey: z.string().optional(),
      })
      .strict(),
  ),
  { error: 'must be a JSON array of { kind, appId, secret, redirectUris?, token?, aesKey? }' },
);

/**
 * WECHAT_APPS: several apps, as JSON. Problems are reported on WECHAT_APPS with the entry's index,
 * never with the value (it holds secrets).
 */
function appsList(ctx: z.RefinementCtx, raw: string | undefined): z.output<typeof AppsSchema> {
  if (raw === undefined || raw.trim() === '') return [];
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    refuse(ctx, 'WECHAT_APPS', 'is not valid JSON');
    return [];
  }
  const parsed = AppsSchema.safeParse(value);
  if (!parsed.success) {
    refuse(ctx, 'WECHAT_APPS', listProblem(parsed.error.issues[0]!));
    return [];
  }
  return parsed.data;
}

function redirectUris(ctx: z.RefinementCtx, variable: string, uris: string[] | undefined) {
  if (uris === undefined) return undefined;
  const bad = uris.find((uri) => !URL.canParse(uri) || !/^https?:$/.test(new URL(uri).protocol));
  if (bad !== undefined) refuse(ctx, variable, `"${bad}" is not an http(s):// URL`);
  return uris;
}

/**
 * Every configured app: the one-app variables (WECHAT_WEB_/APP_/MINI_/OA_APPID and _SECRET) first,
 * then WECHAT_APPS. An appid appears once. Redirect allowlists: the app's own `redirectUris`, else
 * WECHAT_WEB_/OA_REDIRECT_URIS for its kind, else any in development and none in production.
 */
export function wechatApps(env: Env, ctx: z.RefinementCtx, isProduction: boolean): WechatApp[] {
  const kindDefaults: Partial<Record<AppKind, string[] | undefined>> = {
    web: redirectUris(ctx, 'WECHAT_WEB_REDIRECT_URIS', commaList(env.WECHAT_WEB_REDIRECT_URIS)),
    official: redirectUris(ctx, 'WECHAT_OA_REDIRECT_URIS', commaList(env.WECHAT_OA_REDIRECT_URIS)),
  };
  const single = APP_KINDS.flatMap((kind) => {
    const credentials = platform(env, ctx, kind);
    return credentials ? [{ kind, ...credentials, redirectUris: undefined as string[] | undefined }] : [];
  });
  const oaPush = pushSettings(ctx, 'WECHAT_OA_TOKEN', '', env.WECHAT_OA_TOKEN, env.WECHAT_OA_AES_KEY);
  const oa = single.find((app) => app.kind === 'official');
  if (oaPush.token !== undefined) {
    if (!oa) refuse(ctx, 'WECHAT_OA_TOKEN', 'is set but WECHAT_OA_APPID is not');
    else Object.assign(oa, oaPush);
  }
  const listed = appsList(ctx, env.WECHAT_APPS);
  const pushless = listed.findIndex(
    (app) => (app.token ?? app.aesKey) !== undefined && app.kind !== 'official',
  );
  if (pushless >= 0) {
    refuse(ctx, 'WECHAT_APPS', `[${pushless}].token: only official accounts receive event pushes`);
    return [];
  }
  for (const [i, app] of listed.entries())
    pushSettings(ctx, 'WECHAT_APPS', `[${i}]: `, app.token, app.aesKey);
  const misplaced = listed.findIndex((app) => app.redirectUris && !REDIRECT_KINDS.includes(app.kind));
  if (misplaced >= 0) {
    refuse(ctx, 'WECHAT_APPS', `[${misplaced}].redirectUris: only web and official apps have redirect URIs`);
    return [];
  }
  for (const app of listed) redirectUris(ctx, 'WECHAT_APPS', app.redirectUris);
  const apps = [...single, ...listed];
  const twice = apps.find((app, i) => apps.findIndex((other) => other.appId === app.appId) !== i);
  if (twice) {
    refuse(ctx, 'WECHAT_APPS', `appId ${twice.appId} is configured twice (check WECHAT_*_APPID too)`);
    return [];
  }
  return apps.map((app) => ({
    ...app,
    redirectUris: REDIRECT_KINDS.includes(app.kind)
      ? (app.redirectUris ?? kindDefaults[app.kind] ?? (isProduction ? [] : null))
      : [],
  }));
}
