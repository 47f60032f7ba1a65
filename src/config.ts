import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { EnvSchema } from './config/env.js';
import { corsOrigins, trustProxy } from './config/network.js';
import { applyRules, factsOf } from './config/rules.js';
import { wechatApps } from './config/wechat-apps.js';
import { webhooks } from './config/webhooks.js';
import { oidcClients, withOidcCallback } from './config/oidc.js';

export { EnvSchema } from './config/env.js';
export { APP_KINDS, type AppKind, type WechatApp } from './config/wechat-apps.js';
export type { OidcClient } from './config/oidc.js';

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

/** The environment, checked as a whole and shaped into the config the code reads. */
const ConfigSchema = EnvSchema.transform((env, ctx) => {
  const apps = wechatApps(env, ctx, env.NODE_ENV === 'production');
  // The refusals across variables, and production's: one table (src/config/rules.ts).
  const facts = factsOf(env, apps);
  applyRules(ctx, facts);
  const { isProduction, authSecretPrevious, emulator, publicUrl } = facts;
  const origins = corsOrigins(ctx, env.CORS_ORIGINS);
  const hooks = webhooks(env, ctx, isProduction);
  const clients = oidcClients(env, ctx, isProduction);
  // Unset (development only, the rules refuse it in production): random, for this process.
  const authSecret = env.AUTH_SECRET ?? randomBytes(32).toString('base64url');
  const authSecretGenerated = env.AUTH_SECRET === undefined;

  return {
    env: env.NODE_ENV,
    isProduction,
    host: env.HOST ?? (isProduction ? '0.0.0.0' : 'localhost'),
    port: env.PORT,
    /**
     * WEB_CONCURRENCY: server processes on PORT (1: this one; more: a primary that migrates once,
     * then forks that many workers, src/server/cluster.ts). Needs DATABASE_URL above 1.
     */
    webConcurrency: env.WEB_CONCURRENCY,
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
    /**
     * REGISTRATION: whether a WeChat identity that matches no user makes a new one; closed, it is
     * refused (REGISTRATION_CLOSED) while existing users, and their unionid links, sign in as always.
     */
    registrationOpen: env.REGISTRATION === 'open',
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
      apps: clients ? withOidcCallback(apps, publicUrl) : apps,
    },
    /** Login tickets: a waiting page signed in by a person who confirms in the mini program. */
    loginTickets: {
      /** How long a ticket waits for its scan and confirmation. */
      ttlSeconds: env.LOGIN_TICKET_TTL_SECONDS,
      /** The mini program page a ticket's code or link opens, with the ticket's scene. */
      page: env.WECHAT_MINI_TICKET_PAGE,
      /** What WeChat shows the person whose follow or scan signed a page in (null: nothing). */
      followReply: env.WECHAT_OA_LOGIN_REPLY.trim() || null,
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
      /** URL Links (login tickets for phone browsers) one mini program may make a day. */
      linksPerAppPerDay: env.LOGIN_TICKET_LINKS_PER_DAY,
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
      /** Audit events are deleted this long after they happened. */
      auditRetentionDays: env.AUDIT_RETENTION_DAYS,
    },
    /** On SIGTERM, /readyz answers 503 this long before the server stops accepting requests. */
    shutdownDrainSeconds: env.SHUTDOWN_DRAIN_SECONDS,
    /** Prometheus metrics at /metrics on a listener of their own; undefined port: none (still counted). */
    metrics: {
      port: env.METRICS_PORT,
      host: env.METRICS_HOST,
    },
    /** The OpenID Connect provider under /oidc (docs/oidc.md); null: OIDC_CLIENTS is unset, nothing mounted. */
    oidc: clients && {
      /** The relying parties, exactly as OIDC_CLIENTS lists them (secrets included: never logged). */
      clients,
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
      /SECRET|DATABASE_URL|REDIS_URL|WECHAT_APPS|WEBHOOK_URLS|WECHAT_OA_TOKEN|WECHAT_OA_AES_KEY|OIDC_CLIENTS/.test(
        name,
      ) ||
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
