import { z } from 'zod';

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

/** Days a housekeeping pass keeps rows: at most 100 years (longer is out of the database's dates). */
const retentionDays = positiveInt.refine((n) => n <= 36_500, 'must be at most 36500 (a hundred years)');

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
  WEB_CONCURRENCY: z
    .string()
    .regex(/^\d+$/, 'must be a whole number of server processes (1: one, the default)')
    .transform(Number)
    .refine((n) => n >= 1 && n <= 64, 'must be 1 to 64 (server processes)')
    .default(1),
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
  REGISTRATION: z.enum(['open', 'closed']).default('open'),
  LOGIN_TICKET_TTL_SECONDS: positiveInt
    .refine((n) => n <= 24 * 3600, 'must be at most 86400 (a day: a URL Link lives no longer)')
    .default(300),
  LOGIN_TICKET_LINKS_PER_DAY: positiveInt
    .refine((n) => n <= 500_000, 'must be at most 500000 (WeChat’s own daily cap of links and schemes)')
    .default(100_000),
  WECHAT_MINI_TICKET_PAGE: z
    .string()
    .regex(
      /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/,
      'must be a mini program page path without a leading / (e.g. pages/login-ticket/index)',
    )
    .max(128, 'must be at most 128 characters')
    .default('pages/login-ticket/index'),
  WECHAT_OA_LOGIN_REPLY: z
    .string()
    .max(600, 'must be at most 600 characters (WeChat takes 2048 bytes in a text reply)')
    .default('登录成功'),
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
  WECHAT_OA_TOKEN: z.string().optional(),
  WECHAT_OA_AES_KEY: z.string().optional(),
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
  SESSION_RETENTION_DAYS: retentionDays.default(30),
  WEBHOOK_RETENTION_DAYS: retentionDays.default(7),
  AUDIT_RETENTION_DAYS: retentionDays.default(180),
  SHUTDOWN_DRAIN_SECONDS: nonNegativeInt.refine((n) => n <= 60, 'must be at most 60 (seconds)').default(0),
  METRICS_PORT: port.refine((n) => n > 0, 'must be a port number (1-65535)').optional(),
  METRICS_HOST: nonEmpty.default('127.0.0.1'),
  OIDC_CLIENTS: z.string().optional(),
});

export type Env = z.output<typeof EnvSchema>;

/** A refusal that concerns more than one variable: reported on `variable`, its value not echoed. */
export function refuse(ctx: z.RefinementCtx, variable: string, message: string): never {
  ctx.addIssue({ code: 'custom', path: [variable], message, params: { hideValue: true } });
  return z.NEVER;
}

/** A comma-separated variable's entries, trimmed, empty ones dropped; undefined when unset or blank. */
export function commaList(raw: string | undefined): string[] | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * A JSON list variable's first problem as one line: the entry and field it is in (`[1].name: …`),
 * and an unknown key shown only if it looks like a field name (a pasted secret would not).
 */
export function listProblem(issue: z.core.$ZodIssue): string {
  const [index, field] = issue.path;
  const where =
    index === undefined ? '' : `[${String(index)}]${field === undefined ? '' : `.${String(field)}`}: `;
  const message =
    issue.code === 'unrecognized_keys'
      ? `unknown field ${issue.keys.map((k) => (/^[A-Za-z_]{1,32}$/.test(k) ? k : '(not shown)')).join(', ')}`
      : issue.message;
  return `${where}${message}`;
}
