import { randomBytes } from 'node:crypto';
import { z } from 'zod';

/** A configuration problem that stops the start: one line, naming the variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface PlatformCredentials {
  readonly appId: string;
  readonly secret: string;
}

export type Platform = 'web' | 'app' | 'mini';

export interface Config {
  readonly env: 'development' | 'production' | 'test';
  readonly isProduction: boolean;
  readonly host: string;
  readonly port: number;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  readonly database: {
    /** `postgresql://…` of a real server; undefined: the embedded PGlite. */
    readonly url: string | undefined;
    readonly embeddedDir: string;
    readonly migrateOnStart: boolean;
    /** Pool size for a real server; the embedded database always gets exactly 1. */
    readonly poolMax: number;
  };
  readonly authSecret: string;
  /** True when AUTH_SECRET was unset and a random one was made for this process (development only). */
  readonly authSecretGenerated: boolean;
  readonly session: {
    readonly accessTokenTtlSeconds: number;
    readonly refreshTokenTtlSeconds: number;
    readonly webStateTtlSeconds: number;
  };
  readonly wechat: {
    readonly apiBaseUrl: string;
    readonly openBaseUrl: string;
    readonly timeoutMs: number;
    readonly web: PlatformCredentials | undefined;
    readonly app: PlatformCredentials | undefined;
    readonly mini: PlatformCredentials | undefined;
    /** Allowed web login redirect URIs; null: any (development only). */
    readonly webRedirectUris: readonly string[] | null;
  };
  /** Per-minute limits on logins and refreshes, shared by every instance (PostgreSQL). */
  readonly rateLimit: {
    readonly enabled: boolean;
    readonly perIpPerMinute: number;
    readonly perIdentityPerMinute: number;
  };
  /** Trust X-Forwarded-For from a proxy in front (for the client IP of rate limits). */
  readonly trustProxy: boolean;
  readonly emulator: {
    readonly enabled: boolean;
    readonly port: number;
    readonly host: string;
  };
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

const nonEmpty = z.string().trim().min(1, 'must not be empty');

const Env = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: nonEmpty.optional(),
  PORT: port.default(4000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
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
  REFRESH_TOKEN_TTL_SECONDS: positiveInt.default(30 * 24 * 3600),
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
  RATE_LIMIT: z.enum(['on', 'off']).default('on'),
  RATE_LIMIT_IP_PER_MINUTE: positiveInt.default(300),
  RATE_LIMIT_IDENTITY_PER_MINUTE: positiveInt.default(30),
  TRUST_PROXY: boolean.default(false),
  EMULATOR_PORT: port.default(4100),
  EMULATOR_HOST: nonEmpty.default('127.0.0.1'),
});

type Env = z.infer<typeof Env>;

function platform(
  env: Env,
  appIdVar: 'WECHAT_WEB_APPID' | 'WECHAT_APP_APPID' | 'WECHAT_MINI_APPID',
  secretVar: 'WECHAT_WEB_SECRET' | 'WECHAT_APP_SECRET' | 'WECHAT_MINI_SECRET',
): PlatformCredentials | undefined {
  const appId = env[appIdVar];
  const secret = env[secretVar];
  if (appId && !secret) throw new ConfigError(`${secretVar}: must be set when ${appIdVar} is set`);
  if (secret && !appId) throw new ConfigError(`${appIdVar}: must be set when ${secretVar} is set`);
  return appId && secret ? Object.freeze({ appId, secret }) : undefined;
}

function redirectUris(raw: string | undefined): string[] | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const uris = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const uri of uris) {
    if (!URL.canParse(uri) || !/^https?:$/.test(new URL(uri).protocol)) {
      throw new ConfigError(`WECHAT_WEB_REDIRECT_URIS: "${uri}" is not an http(s):// URL`);
    }
  }
  return uris;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * Turns the environment into the one typed, frozen config object.
 * Throws ConfigError with a single line naming the variable and the problem.
 */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings count as unset, as in most .env tooling.
  const raw = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = Env.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0] ?? 'environment');
    const shown = typeof raw[name] === 'string' && !/SECRET/.test(name) ? ` (got "${raw[name]}")` : '';
    throw new ConfigError(`${name}: ${issue.message}${shown}`);
  }
  const env = parsed.data;
  const isProduction = env.NODE_ENV === 'production';

  let authSecret = env.AUTH_SECRET;
  let authSecretGenerated = false;
  if (authSecret !== undefined && authSecret.length < 32) {
    throw new ConfigError('AUTH_SECRET: must be at least 32 characters');
  }
  if (authSecret === undefined) {
    if (isProduction)
      throw new ConfigError('AUTH_SECRET: required when NODE_ENV=production (at least 32 characters)');
    authSecret = randomBytes(32).toString('base64url');
    authSecretGenerated = true;
  }

  const web = platform(env, 'WECHAT_WEB_APPID', 'WECHAT_WEB_SECRET');
  const app = platform(env, 'WECHAT_APP_APPID', 'WECHAT_APP_SECRET');
  const mini = platform(env, 'WECHAT_MINI_APPID', 'WECHAT_MINI_SECRET');
  const anyCredentials = Boolean(web || app || mini);

  let emulator: boolean;
  if (env.WECHAT_EMULATOR === 'on') {
    if (isProduction) throw new ConfigError('WECHAT_EMULATOR: cannot be on when NODE_ENV=production');
    emulator = true;
  } else if (env.WECHAT_EMULATOR === 'off') {
    emulator = false;
  } else {
    emulator = !anyCredentials && !isProduction;
  }

  if (isProduction && !anyCredentials) {
    throw new ConfigError(
      'WECHAT_*_APPID: NODE_ENV=production needs at least one platform (WECHAT_WEB_, WECHAT_APP_ or WECHAT_MINI_APPID and _SECRET)',
    );
  }

  const uris = redirectUris(env.WECHAT_WEB_REDIRECT_URIS);

  return deepFreeze({
    env: env.NODE_ENV,
    isProduction,
    host: env.HOST ?? (isProduction ? '0.0.0.0' : 'localhost'),
    port: env.PORT,
    logLevel: env.LOG_LEVEL,
    database: {
      url: env.DATABASE_URL,
      embeddedDir: env.EMBEDDED_DB_DIR,
      migrateOnStart: env.MIGRATE_ON_START,
      poolMax: env.DATABASE_POOL_MAX,
    },
    authSecret,
    authSecretGenerated,
    session: {
      accessTokenTtlSeconds: env.ACCESS_TOKEN_TTL_SECONDS,
      refreshTokenTtlSeconds: env.REFRESH_TOKEN_TTL_SECONDS,
      webStateTtlSeconds: env.WEB_STATE_TTL_SECONDS,
    },
    wechat: {
      apiBaseUrl: env.WECHAT_API_BASE_URL,
      openBaseUrl: env.WECHAT_OPEN_BASE_URL,
      timeoutMs: env.WECHAT_TIMEOUT_MS,
      web,
      app,
      mini,
      webRedirectUris: uris ?? (isProduction ? [] : null),
    },
    rateLimit: {
      enabled: env.RATE_LIMIT === 'on',
      perIpPerMinute: env.RATE_LIMIT_IP_PER_MINUTE,
      perIdentityPerMinute: env.RATE_LIMIT_IDENTITY_PER_MINUTE,
    },
    trustProxy: env.TRUST_PROXY,
    emulator: { enabled: emulator, port: env.EMULATOR_PORT, host: env.EMULATOR_HOST },
  });
}
