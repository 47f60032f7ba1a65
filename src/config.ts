import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { z } from 'zod';

/** A configuration problem that stops the start: one line, naming the variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
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
  AUTH_SECRET: z.string().optional(),
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
  WECHAT_WEB_REDIRECT_URIS: z.string().optional(),
  WECHAT_EMULATOR: z.enum(['auto', 'on', 'off']).default('auto'),
  WECHAT_EMULATOR_URL: httpUrl.optional(),
  RATE_LIMIT: z.enum(['on', 'off']).default('on'),
  RATE_LIMIT_IP_PER_MINUTE: positiveInt.default(300),
  RATE_LIMIT_IDENTITY_PER_MINUTE: positiveInt.default(30),
  TRUST_PROXY: nonEmpty.default('false'),
  REQUEST_TIMEOUT_MS: positiveInt.default(30_000),
  CORS_ORIGINS: z.string().optional(),
  EMULATOR_PORT: port.default(4100),
  EMULATOR_HOST: nonEmpty.default('127.0.0.1'),
});

type Env = z.output<typeof EnvSchema>;

/** A refusal that concerns more than one variable: reported on `variable`, its value not echoed. */
function refuse(ctx: z.RefinementCtx, variable: string, message: string): never {
  ctx.addIssue({ code: 'custom', path: [variable], message, params: { hideValue: true } });
  return z.NEVER;
}

function platform(
  env: Env,
  ctx: z.RefinementCtx,
  name: 'WEB' | 'APP' | 'MINI',
): { appId: string; secret: string } | undefined {
  const appId = env[`WECHAT_${name}_APPID`];
  const secret = env[`WECHAT_${name}_SECRET`];
  if (appId && !secret) refuse(ctx, `WECHAT_${name}_SECRET`, `must be set when WECHAT_${name}_APPID is set`);
  if (secret && !appId) refuse(ctx, `WECHAT_${name}_APPID`, `must be set when WECHAT_${name}_SECRET is set`);
  return appId && secret ? { appId, secret } : undefined;
}

/** A comma-separated variable's entries, trimmed, empty ones dropped; undefined when unset or blank. */
function commaList(raw: string | undefined): string[] | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function redirectUris(ctx: z.RefinementCtx, raw: string | undefined): string[] | undefined {
  const uris = commaList(raw);
  if (uris === undefined) return undefined;
  const bad = uris.find((uri) => !URL.canParse(uri) || !/^https?:$/.test(new URL(uri).protocol));
  if (bad !== undefined) refuse(ctx, 'WECHAT_WEB_REDIRECT_URIS', `"${bad}" is not an http(s):// URL`);
  return uris;
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

/** The environment, checked as a whole and shaped into the config the code reads. */
const ConfigSchema = EnvSchema.transform((env, ctx) => {
  const isProduction = env.NODE_ENV === 'production';

  let authSecret = env.AUTH_SECRET;
  const authSecretGenerated = authSecret === undefined;
  if (authSecret !== undefined && authSecret.length < 32) {
    return refuse(ctx, 'AUTH_SECRET', 'must be at least 32 characters');
  }
  if (authSecret === undefined) {
    if (isProduction)
      return refuse(ctx, 'AUTH_SECRET', 'required when NODE_ENV=production (at least 32 characters)');
    authSecret = randomBytes(32).toString('base64url');
  }

  const web = platform(env, ctx, 'WEB');
  const app = platform(env, ctx, 'APP');
  const mini = platform(env, ctx, 'MINI');
  const anyCredentials = Boolean(web || app || mini);

  if (env.WECHAT_EMULATOR === 'on' && isProduction) {
    return refuse(ctx, 'WECHAT_EMULATOR', 'cannot be on when NODE_ENV=production');
  }
  if (env.WECHAT_EMULATOR_URL !== undefined) {
    if (isProduction) return refuse(ctx, 'WECHAT_EMULATOR_URL', 'cannot be set when NODE_ENV=production');
    if (env.WECHAT_EMULATOR === 'off') {
      return refuse(ctx, 'WECHAT_EMULATOR_URL', 'cannot be set with WECHAT_EMULATOR=off');
    }
  }
  const emulator =
    env.WECHAT_EMULATOR === 'on' ||
    env.WECHAT_EMULATOR_URL !== undefined ||
    (env.WECHAT_EMULATOR === 'auto' && !anyCredentials && !isProduction);

  if (isProduction && !anyCredentials) {
    return refuse(
      ctx,
      'WECHAT_*_APPID',
      'NODE_ENV=production needs at least one platform (WECHAT_WEB_, WECHAT_APP_ or WECHAT_MINI_APPID and _SECRET)',
    );
  }
  if (isProduction && env.DATABASE_URL === undefined) {
    return refuse(
      ctx,
      'DATABASE_URL',
      'required when NODE_ENV=production (the embedded database is for development)',
    );
  }
  if (isProduction) {
    for (const name of ['WECHAT_API_BASE_URL', 'WECHAT_OPEN_BASE_URL'] as const) {
      if (!isHttpsOrLoopback(env[name])) {
        return refuse(
          ctx,
          name,
          'must be https:// when NODE_ENV=production (plain http only to a loopback proxy)',
        );
      }
    }
  }
  const uris = redirectUris(ctx, env.WECHAT_WEB_REDIRECT_URIS);
  const origins = corsOrigins(ctx, env.CORS_ORIGINS);

  const publicUrl = env.PUBLIC_URL ?? `http://localhost:${env.PORT}`;
  if (isProduction && !isHttpsOrLoopback(publicUrl)) {
    return refuse(
      ctx,
      'PUBLIC_URL',
      'must be https:// when NODE_ENV=production (plain http only on loopback)',
    );
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
    },
    authSecret,
    /**
     * True when AUTH_SECRET was unset (development only): a random one for this process, which
     * keepDevelopmentSecret replaces with the one kept in the data directory.
     */
    authSecretGenerated,
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
      web,
      app,
      mini,
      /** Allowed web login redirect URIs; null: any (development only). */
      webRedirectUris: uris ?? (isProduction ? [] : null),
    },
    /** Per-minute limits on logins and refreshes, shared by every instance (PostgreSQL). */
    rateLimit: {
      enabled: env.RATE_LIMIT === 'on',
      perIpPerMinute: env.RATE_LIMIT_IP_PER_MINUTE,
      perIdentityPerMinute: env.RATE_LIMIT_IDENTITY_PER_MINUTE,
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
    emulator: {
      enabled: emulator,
      /** An emulator already running there (`npm run emulator`) is used instead of starting one. */
      url: env.WECHAT_EMULATOR_URL,
      port: env.EMULATOR_PORT,
      host: env.EMULATOR_HOST,
    },
  };
});

type DeepReadonly<T> = T extends (infer E)[]
  ? readonly DeepReadonly<E>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/** The one typed, frozen config object, inferred from the schema that makes it. */
export type Config = DeepReadonly<z.output<typeof ConfigSchema>>;

/** A WeChat app's appid and secret. */
export type PlatformCredentials = NonNullable<Config['wechat']['web']>;

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * Turns the environment into the config. Throws ConfigError with a single line naming the
 * variable and the problem; a secret's value is never shown.
 */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings count as unset, as in most .env tooling.
  const raw = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0] ?? 'environment');
    const hidden =
      /SECRET|DATABASE_URL/.test(name) || (issue.code === 'custom' && issue.params?.hideValue === true);
    const shown = typeof raw[name] === 'string' && !hidden ? ` (got "${raw[name]}")` : '';
    throw new ConfigError(`${name}: ${issue.message}${shown}`);
  }
  return deepFreeze(parsed.data);
}
