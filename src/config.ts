import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { z } from 'zod';

/**
 * A configuration problem that stops the start: a line per problem, each naming the variable (so
 * one run lists everything to fix).
 */
export class ConfigError extends Error {
  override name = 'ConfigError';

  /** What a person reads: `Configuration error: VARIABLE: problem`, a line per problem. */
  get report(): string {
    return this.message
      .split('\n')
      .map((line) => `Configuration error: ${line}`)
      .join('\n');
  }
}

const boolean = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const port = z
  .string()
  .regex(/^\d+$/, 'must be a port number (0-65535)')
  .transform(Number)
  .refine((n) => n <= 65535, 'must be a port number (0-65535)');

const positiveInt = z
  .string()
  .regex(/^\d+$/, 'must be a whole number')
  .transform(Number)
  .refine((n) => n > 0, 'must be greater than 0');

const httpUrl = z
  .string()
  .refine((s) => URL.canParse(s) && /^https?:$/.test(new URL(s).protocol), 'must be an http(s):// URL')
  .transform((s) => s.replace(/\/+$/, ''));

const nonNegativeInt = z.string().regex(/^\d+$/, 'must be a whole number').transform(Number);

const nonEmpty = z.string().trim().min(1, 'must not be empty');

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Every environment variable the server reads, with its default (`.env.example` lists them all). */
export const EnvSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: nonEmpty.optional(),
  PORT: port.default(4000),
  PUBLIC_URL: httpUrl.optional(),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  DATABASE_URL: z
    .string()
    .refine(
      (s) => /^postgres(ql)?:\/\//.test(s) && URL.canParse(s),
      'must be a postgresql:// URL (only PostgreSQL is supported)',
    )
    .optional(),
  EMBEDDED_DB_DIR: nonEmpty.default('.data/pglite'),
  MIGRATE_ON_START: boolean.default(true),
  DATABASE_POOL_MAX: positiveInt.default(10),
  DATABASE_POOL_IDLE_SECONDS: positiveInt.default(30),
  DATABASE_NAMED_STATEMENTS: z.enum(['on', 'off']).default('on'),
  AUTH_SECRET: z.string().optional(),
  AUTH_SECRET_PREVIOUS: z.string().optional(),
  ACCESS_TOKEN_TTL_SECONDS: positiveInt.default(900),
  TOKEN_AUDIENCE: nonEmpty.optional(),
  SIGNING_KEY_ROTATION_DAYS: positiveInt.default(30),
  SIGNING_KEY_REFRESH_SECONDS: positiveInt.default(60),
  REFRESH_TOKEN_TTL_SECONDS: positiveInt.default(30 * 24 * 3600),
  REFRESH_REUSE_GRACE_SECONDS: nonNegativeInt.default(30),
  WEB_STATE_TTL_SECONDS: positiveInt.default(600),
  WECHAT_API_BASE_URL: httpUrl.default('https://api.weixin.qq.com'),
  WECHAT_OPEN_BASE_URL: httpUrl.default('https://open.weixin.qq.com'),
  WECHAT_TIMEOUT_MS: positiveInt.default(5000),
  WECHAT_WEB_APPID: nonEmpty.optional(),
  WECHAT_WEB_SECRET: nonEmpty.optional(),
  WECHAT_APP_APPID: nonEmpty.optional(),
  WECHAT_APP_SECRET: nonEmpty.optional(),
  WECHAT_MINI_APPID: nonEmpty.optional(),
  WECHAT_MINI_SECRET: nonEmpty.optional(),
  WECHAT_OA_APPID: nonEmpty.optional(),
  WECHAT_OA_SECRET: nonEmpty.optional(),
  WECHAT_APPS: z.string().optional(),
  WECHAT_WEB_REDIRECT_URIS: z.string().optional(),
  WECHAT_OA_REDIRECT_URIS: z.string().optional(),
  WECHAT_EMULATOR: z.enum(['auto', 'on', 'off']).default('auto'),
  WECHAT_EMULATOR_URL: httpUrl.optional(),
  RATE_LIMIT: z.enum(['on', 'off']).default('on'),
  RATE_LIMIT_IP_PER_MINUTE: positiveInt.default(300),
  RATE_LIMIT_IDENTITY_PER_MINUTE: positiveInt.default(30),
  RATE_LIMIT_USER_PER_MINUTE: positiveInt.default(20),
  RATE_LIMIT_IPV6_PREFIX: positiveInt.refine((n) => n <= 128, 'must be 1 to 128').default(64),
  REDIS_URL: z
    .string()
    .refine((v) => /^rediss?:\/\/./.test(v), 'must be a redis:// or rediss:// URL')
    .optional(),
  TRUST_PROXY: nonEmpty.default('false'),
  REQUEST_TIMEOUT_MS: positiveInt.default(30_000),
  CORS_ORIGINS: z.string().optional(),
  EMULATOR_PORT: port.default(4100),
  EMULATOR_HOST: nonEmpty.default('127.0.0.1'),
  WEBHOOK_URLS: z.string().optional(),
  WEBHOOK_SECRET: z.string().optional(),
  HOUSEKEEPING_INTERVAL_SECONDS: nonNegativeInt
    .refine((n) => n <= 7 * 24 * 3600, 'must be at most 604800 (a week); 0 turns it off')
    .default(3600),
  SESSION_RETENTION_DAYS: positiveInt.default(30),
  WEBHOOK_RETENTION_DAYS: positiveInt.default(7),
  SHUTDOWN_DRAIN_SECONDS: nonNegativeInt.refine((n) => n <= 60, 'must be at most 60 (seconds)').default(0),
  METRICS_PORT: port.refine((n) => n > 0, 'must be a port number (1-65535)').optional(),
  METRICS_HOST: nonEmpty.default('127.0.0.1'),
});

type Env = z.output<typeof EnvSchema>;

/** A refusal that concerns more than one variable: reported on `variable`, its value not echoed. */
function refuse(ctx: z.RefinementCtx, variable: string, message: string): never {
  ctx.addIssue({ code: 'custom', path: [variable], message, params: { hideValue: true } });
  return z.NEVER;
}

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
      })
      .strict(),
  ),
  { error: 'must be a JSON array of { kind, appId, secret, redirectUris? }' },
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
    const issue = parsed.error.issues[0]!;
    const [index, field] = issue.path;
    const where =
      index === undefined ? '' : `[${String(index)}]${field === undefined ? '' : `.${String(field)}`}: `;
    const message =
      issue.code === 'unrecognized_keys'
        ? // A key is shown only if it looks like a field name (a pasted secret would not).
          `unknown field ${issue.keys.map((k) => (/^[A-Za-z_]{1,32}$/.test(k) ? k : '(not shown)')).join(', ')}`
        : issue.message;
    refuse(ctx, 'WECHAT_APPS', `${where}${message}`);
    return [];
  }
  return parsed.data;
}

/** A comma-separated variable's entries, trimmed, empty ones dropped; undefined when unset or blank. */
function commaList(raw: string | undefined): string[] | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
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
function wechatApps(env: Env, ctx: z.RefinementCtx, isProduction: boolean): WechatApp[] {
  const kindDefaults: Partial<Record<AppKind, string[] | undefined>> = {
    web: redirectUris(ctx, 'WECHAT_WEB_REDIRECT_URIS', commaList(env.WECHAT_WEB_REDIRECT_URIS)),
    official: redirectUris(ctx, 'WECHAT_OA_REDIRECT_URIS', commaList(env.WECHAT_OA_REDIRECT_URIS)),
  };
  const single = APP_KINDS.flatMap((kind) => {
    const credentials = platform(env, ctx, kind);
    return credentials ? [{ kind, ...credentials, redirectUris: undefined as string[] | undefined }] : [];
  });
  const listed = appsList(ctx, env.WECHAT_APPS);
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

/** proxy-addr's names for address ranges, which Fastify's trustProxy takes beside addresses and CIDRs. */
const PROXY_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal']);

function isAddressOrCidr(value: string): boolean {
  const [address, bits, extra] = value.split('/');
  const version = isIP(address ?? '');
  if (version === 0 || extra !== undefined) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (version === 4 ? 32 : 128);
}

/**
 * TRUST_PROXY, in Fastify's own terms: `false` (the socket's address is the client), a number of
 * proxy hops in front of us, or the proxies' addresses/CIDRs. `true` would believe an
 * X-Forwarded-For the client writes itself, so it is refused with the alternatives.
 */
function trustProxy(ctx: z.RefinementCtx, raw: string): false | number | string[] {
  if (raw === 'false' || raw === '0') return false;
  if (raw === 'true') {
    return refuse(
      ctx,
      'TRUST_PROXY',
      'true would trust an X-Forwarded-For the client writes: give the number of proxies in front ' +
        '(e.g. 1) or their addresses/CIDRs (e.g. 10.0.0.0/8,loopback)',
    );
  }
  if (/^\d+$/.test(raw)) return Number(raw);
  const entries = commaList(raw) ?? [];
  const bad = entries.find((e) => !PROXY_RANGES.has(e) && !isAddressOrCidr(e));
  if (bad !== undefined || entries.length === 0) {
    return refuse(
      ctx,
      'TRUST_PROXY',
      `"${bad ?? raw}" is not false, a hop count, an IP address, a CIDR or loopback/linklocal/uniquelocal`,
    );
  }
  return entries;
}

/** CORS_ORIGINS: exact origins (`scheme://host[:port]`, nothing after it). */
function corsOrigins(ctx: z.RefinementCtx, raw: string | undefined): string[] | undefined {
  const origins = commaList(raw);
  if (origins === undefined) return undefined;
  const bad = origins.find(
    (o) => !URL.canParse(o) || !/^https?:$/.test(new URL(o).protocol) || new URL(o).origin !== o,
  );
  if (bad !== undefined) {
    return refuse(ctx, 'CORS_ORIGINS', `"${bad}" is not an origin like https://app.example.com (no path)`);
  }
  return origins;
}

/**
 * https, or plain http to this machine: what production may talk to WeChat over (a local egress
 * proxy), and the public URL it may announce (a TLS-terminating proxy on the same host).
 */
function isHttpsOrLoopback(url: string): boolean {
  const { protocol, hostname } = new URL(url);
  return (
    protocol === 'https:' ||
    hostname === 'localhost' ||
    hostname === '[::1]' ||
    /^127(\.\d{1,3}){3}$/.test(hostname)
  );
}

/** Standard Webhooks' secret: `whsec_` + base64 of 24 to 64 random bytes. */
const WEBHOOK_SECRET = /^whsec_([A-Za-z0-9+/]+={0,2})$/;

/**
 * WEBHOOK_URLS and WEBHOOK_SECRET: the endpoints that receive account events (docs/webhooks.md),
 * none when unset. Production takes https, or plain http to this machine only.
 */
function webhooks(env: Env, ctx: z.RefinementCtx, isProduction: boolean) {
  const urls = commaList(env.WEBHOOK_URLS) ?? [];
  // Entries are named by position, never shown: a URL may carry a token in its path or query.
  const bad = urls.findIndex((u) => !URL.canParse(u) || !/^https?:$/.test(new URL(u).protocol));
  if (bad >= 0) return refuse(ctx, 'WEBHOOK_URLS', `entry ${bad + 1} is not an http(s):// URL`);
  const plain = isProduction ? urls.findIndex((u) => !isHttpsOrLoopback(u)) : -1;
  if (plain >= 0) {
    return refuse(
      ctx,
      'WEBHOOK_URLS',
      `entry ${plain + 1} must be https:// when NODE_ENV=production (plain http only on loopback)`,
    );
  }
  const secret = env.WEBHOOK_SECRET;
  if (secret !== undefined) {
    const base64 = WEBHOOK_SECRET.exec(secret)?.[1];
    const bytes = base64 === undefined || base64.length % 4 !== 0 ? 0 : Buffer.from(base64, 'base64').length;
    if (bytes < 24 || bytes > 64) {
      return refuse(
        ctx,
        'WEBHOOK_SECRET',
        'must be whsec_ followed by the base64 of 24 to 64 random bytes (Standard Webhooks)',
      );
    }
  }
  if (urls.length > 0 && secret === undefined) {
    return refuse(ctx, 'WEBHOOK_SECRET', 'required when WEBHOOK_URLS is set (whsec_ + base64)');
  }
  return { urls, secret: secret ?? '' };
}

/** The environment, checked as a whole and shaped into the config the code reads. */
const ConfigSchema = EnvSchema.transform((env, ctx) => {
  const isProduction = env.NODE_ENV === 'production';

  let authSecret = env.AUTH_SECRET;
  const authSecretGenerated = authSecret === undefined;
  if (authSecret !== undefined && authSecret.length < 32) {
    refuse(ctx, 'AUTH_SECRET', 'must be at least 32 characters');
  }
  if (authSecret === undefined) {
    if (isProduction)
      refuse(ctx, 'AUTH_SECRET', 'required when NODE_ENV=production (at least 32 characters)');
    authSecret = randomBytes(32).toString('base64url');
  }
  // Earlier secrets still open what they sealed and check what they signed; nothing new uses them.
  const authSecretPrevious = [
    ...new Set((env.AUTH_SECRET_PREVIOUS ?? '').split(',').map((secret) => secret.trim())),
  ].filter((secret) => secret !== '' && secret !== authSecret);
  if (authSecretPrevious.some((secret) => secret.length < 32)) {
    refuse(ctx, 'AUTH_SECRET_PREVIOUS', 'each comma-separated secret must be at least 32 characters');
  }

  const apps = wechatApps(env, ctx, isProduction);
  const anyCredentials = apps.length > 0;

  if (env.WECHAT_EMULATOR === 'on' && isProduction) {
    refuse(ctx, 'WECHAT_EMULATOR', 'cannot be on when NODE_ENV=production');
  }
  if (env.WECHAT_EMULATOR_URL !== undefined) {
    if (isProduction) refuse(ctx, 'WECHAT_EMULATOR_URL', 'cannot be set when NODE_ENV=production');
    if (env.WECHAT_EMULATOR === 'off') {
      refuse(ctx, 'WECHAT_EMULATOR_URL', 'cannot be set with WECHAT_EMULATOR=off');
    }
  }
  const emulator =
    env.WECHAT_EMULATOR === 'on' ||
    env.WECHAT_EMULATOR_URL !== undefined ||
    (env.WECHAT_EMULATOR === 'auto' && !anyCredentials && !isProduction);

  if (isProduction && !anyCredentials) {
    refuse(
      ctx,
      'WECHAT_*_APPID',
      'NODE_ENV=production needs at least one app (WECHAT_WEB_, WECHAT_APP_, WECHAT_MINI_ or WECHAT_OA_APPID and _SECRET, or WECHAT_APPS)',
    );
  }
  if (isProduction && env.DATABASE_URL === undefined) {
    refuse(
      ctx,
      'DATABASE_URL',
      'required when NODE_ENV=production (the embedded database is for development)',
    );
  }
  if (isProduction) {
    for (const name of ['WECHAT_API_BASE_URL', 'WECHAT_OPEN_BASE_URL'] as const) {
      if (!isHttpsOrLoopback(env[name])) {
        refuse(ctx, name, 'must be https:// when NODE_ENV=production (plain http only to a loopback proxy)');
      }
    }
  }
  const origins = corsOrigins(ctx, env.CORS_ORIGINS);
  const hooks = webhooks(env, ctx, isProduction);

  if (env.METRICS_PORT !== undefined && env.METRICS_PORT === env.PORT) {
    refuse(ctx, 'METRICS_PORT', 'must differ from PORT (metrics are never served on the public port)');
  }
  if (emulator && env.WECHAT_EMULATOR_URL === undefined && env.EMULATOR_PORT === env.PORT && env.PORT !== 0) {
    refuse(
      ctx,
      'EMULATOR_PORT',
      `must differ from PORT (both are ${env.PORT}): the server listens on PORT and the built-in WeChat emulator on ` +
        'EMULATOR_PORT, each needs its own (unset EMULATOR_PORT for its default, 4100)',
    );
  }
  if (emulator && env.WECHAT_EMULATOR_URL === undefined && env.METRICS_PORT === env.EMULATOR_PORT) {
    refuse(
      ctx,
      'METRICS_PORT',
      'must differ from EMULATOR_PORT (the built-in WeChat emulator listens there)',
    );
  }

  const publicUrl = env.PUBLIC_URL ?? `http://localhost:${env.PORT}`;
  if (isProduction && !isHttpsOrLoopback(publicUrl)) {
    refuse(ctx, 'PUBLIC_URL', 'must be https:// when NODE_ENV=production (plain http only on loopback)');
  }

  return {
    env: env.NODE_ENV,
    isProduction,
    host: env.HOST ?? (isProduction ? '0.0.0.0' : 'localhost'),
    port: env.PORT,
    /** The server's public base URL (no trailing slash): the tokens' issuer, the JWKS and discovery URLs. */
    publicUrl,
    logLevel: env.LOG_LEVEL,
    database: {
      /** `postgresql://…` of a real server; undefined: the embedded PGlite. */
      url: env.DATABASE_URL,
      embeddedDir: env.EMBEDDED_DB_DIR,
      migrateOnStart: env.MIGRATE_ON_START,
      /** Pool size for a real server; the embedded database always gets exactly 1. */
      poolMax: env.DATABASE_POOL_MAX,
      /** The hot paths' statements as named prepared statements (off: for PgBouncer before 1.21). */
      namedStatements: env.DATABASE_NAMED_STATEMENTS === 'on',
      /** A pool connection unused this long is closed (and opened again when needed). */
      poolIdleSeconds: env.DATABASE_POOL_IDLE_SECONDS,
    },
    authSecret,
    /**
     * True when AUTH_SECRET was unset (development only): a random one for this process, which
     * keepDevelopmentSecret replaces with the one kept in the data directory.
     */
    authSecretGenerated,
    /** AUTH_SECRET_PREVIOUS: secrets that open and verify (after AUTH_SECRET), never seal or sign. */
    authSecretPrevious,
    session: {
      accessTokenTtlSeconds: env.ACCESS_TOKEN_TTL_SECONDS,
      refreshTokenTtlSeconds: env.REFRESH_TOKEN_TTL_SECONDS,
      /** A refresh token presented again this soon after its rotation gets fresh tokens (0: never). */
      refreshReuseGraceSeconds: env.REFRESH_REUSE_GRACE_SECONDS,
      webStateTtlSeconds: env.WEB_STATE_TTL_SECONDS,
    },
    /** Access tokens: ES256 JWTs signed with the current key of `signingKeys`. */
    accessTokens: { issuer: publicUrl, audience: env.TOKEN_AUDIENCE ?? publicUrl },
    signingKeys: {
      /** A new key becomes current when the current one is this old (once, across all instances). */
      rotationDays: env.SIGNING_KEY_ROTATION_DAYS,
      /** How often each instance re-reads the keys (and rotates when due). */
      refreshSeconds: env.SIGNING_KEY_REFRESH_SECONDS,
    },
    wechat: {
      apiBaseUrl: env.WECHAT_API_BASE_URL,
      openBaseUrl: env.WECHAT_OPEN_BASE_URL,
      timeoutMs: env.WECHAT_TIMEOUT_MS,
      /** Every app logins may come from; logins of a kind with several name their appId. */
      apps,
    },
    /** Per-minute limits on logins and refreshes, shared by every instance (PostgreSQL, or Redis). */
    rateLimit: {
      enabled: env.RATE_LIMIT === 'on',
      perIpPerMinute: env.RATE_LIMIT_IP_PER_MINUTE,
      perIdentityPerMinute: env.RATE_LIMIT_IDENTITY_PER_MINUTE,
      perUserPerMinute: env.RATE_LIMIT_USER_PER_MINUTE,
      /** IPv6 clients are counted by this network prefix (a host usually holds a whole /64). */
      ipv6Prefix: env.RATE_LIMIT_IPV6_PREFIX,
      redisUrl: env.REDIS_URL,
    },
    http: {
      /** Which X-Forwarded-For entries to believe (the client IP of rate limits), as Fastify's trustProxy. */
      trustProxy: trustProxy(ctx, env.TRUST_PROXY),
      /** The longest a client may take to send a whole request; idle sockets close after twice that. */
      requestTimeoutMs: env.REQUEST_TIMEOUT_MS,
      /**
       * Browser origins allowed to call us (CORS): exact origins, or 'localhost' for any
       * http://localhost:* and http://127.0.0.1:* (the development default; production: none).
       */
      corsOrigins: origins ?? (isProduction ? [] : ('localhost' as const)),
    },
    /** Signed account events (Standard Webhooks), sent by every instance from the outbox. */
    webhooks: {
      /** Every endpoint receives every event; none: no events are written. */
      urls: hooks.urls,
      /** `whsec_…`; empty when there are no endpoints. Never logged. */
      secret: hooks.secret,
    },
    /** The in-process job that deletes expired rows (src/housekeeping/), one instance at a time. */
    housekeeping: {
      /** Seconds between passes; 0: never (run `npm run prune` from a scheduler instead). */
      intervalSeconds: env.HOUSEKEEPING_INTERVAL_SECONDS,
      /** Revoked sessions (and their refresh tokens) are deleted this long after their revocation. */
      sessionRetentionDays: env.SESSION_RETENTION_DAYS,
      /** Delivered and given-up webhook deliveries are deleted this long after their event. */
      webhookRetentionDays: env.WEBHOOK_RETENTION_DAYS,
    },
    /** On SIGTERM, /readyz answers 503 this long before the server stops accepting requests. */
    shutdownDrainSeconds: env.SHUTDOWN_DRAIN_SECONDS,
    /** Prometheus metrics at /metrics on a listener of their own; undefined port: none (still counted). */
    metrics: {
      port: env.METRICS_PORT,
      host: env.METRICS_HOST,
    },
    emulator: {
      enabled: emulator,
      /** An emulator already running there (`npm run emulator`) is used instead of starting one. */
      url: env.WECHAT_EMULATOR_URL,
      port: env.EMULATOR_PORT,
      host: env.EMULATOR_HOST,
    },
  };
});

/**
 * Every problem with the environment, a line each, in the schema's order. A variable that fails its
 * own check hides the checks that read it (its value is unknown), so the checks across variables
 * are run again without it, and their problems with the other variables are added.
 */
function problemsOf(raw: Record<string, string | undefined>, issues: readonly z.core.$ZodIssue[]): string[] {
  let all = [...issues];
  const invalid = new Set(issues.map((issue) => String(issue.path[0] ?? '')));
  const lenient = Object.fromEntries(Object.entries(raw).filter(([name]) => !invalid.has(name)));
  if (
    issues.some((issue) => issue.code !== 'custom') &&
    Object.keys(lenient).length < Object.keys(raw).length
  ) {
    const again = ConfigSchema.safeParse(lenient);
    if (!again.success)
      all = [...all, ...again.error.issues.filter((i) => !invalid.has(String(i.path[0] ?? '')))];
  }
  const lines = all.map((issue) => {
    const name = String(issue.path[0] ?? 'environment');
    const hidden =
      /SECRET|DATABASE_URL|REDIS_URL|WECHAT_APPS|WEBHOOK_URLS/.test(name) ||
      (issue.code === 'custom' && issue.params?.hideValue === true);
    const shown = typeof raw[name] === 'string' && !hidden ? ` (got "${raw[name]}")` : '';
    return `${name}: ${issue.message}${shown}`;
  });
  return [...new Set(lines)];
}

type DeepReadonly<T> = T extends (infer E)[]
  ? readonly DeepReadonly<E>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/** The one typed, frozen config object, inferred from the schema that makes it. */
export type Config = DeepReadonly<z.output<typeof ConfigSchema>>;

/** A configured WeChat app, as the code reads it. */
export type ConfiguredApp = Config['wechat']['apps'][number];

/** A WeChat app's appid and secret (what a WeChat call needs). */
export type PlatformCredentials = Pick<ConfiguredApp, 'appId' | 'secret'>;

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * Turns the environment into the config. Throws ConfigError naming every problem at once, a line
 * each: the variable and what is wrong with it; a secret's value is never shown.
 */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings count as unset, as in most .env tooling.
  const raw = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(problemsOf(raw, parsed.error.issues).join('\n'));
  return deepFreeze(parsed.data);
}
