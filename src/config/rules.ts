import type { z } from 'zod';
import { refuse, type Env } from './env.js';
import { isHttpsOrLoopback } from './network.js';
import type { WechatApp } from './wechat-apps.js';

/** What the rules read: the parsed variables and what the config derives from several of them. */
export interface Facts {
  env: Env;
  isProduction: boolean;
  /** AUTH_SECRET_PREVIOUS: trimmed, deduplicated, without AUTH_SECRET. */
  authSecretPrevious: string[];
  /** At least one WeChat app is configured. */
  anyCredentials: boolean;
  /** WeChat calls go to an emulator (the built-in one, or WECHAT_EMULATOR_URL). */
  emulator: boolean;
  /** PUBLIC_URL, or this port on localhost. */
  publicUrl: string;
  /** Official accounts with a Token and no EncodingAESKey: their pushes would come in plain mode. */
  plainPushApps: string[];
}

/** The facts of an environment whose WeChat apps are known. */
export function factsOf(env: Env, apps: readonly WechatApp[]): Facts {
  const isProduction = env.NODE_ENV === 'production';
  const anyCredentials = apps.length > 0;
  return {
    env,
    isProduction,
    // Earlier secrets still open what they sealed and check what they signed; nothing new uses them.
    authSecretPrevious: [
      ...new Set((env.AUTH_SECRET_PREVIOUS ?? '').split(',').map((secret) => secret.trim())),
    ].filter((secret) => secret !== '' && secret !== env.AUTH_SECRET),
    anyCredentials,
    emulator:
      env.WECHAT_EMULATOR === 'on' ||
      env.WECHAT_EMULATOR_URL !== undefined ||
      (env.WECHAT_EMULATOR === 'auto' && !anyCredentials && !isProduction),
    publicUrl: env.PUBLIC_URL ?? `http://localhost:${env.PORT}`,
    plainPushApps: apps.filter((app) => app.token && !app.aesKey).map((app) => app.appId),
  };
}

/** A refusal across variables: reported on `variable`, with `message`, when `refuses` holds. */
export interface Rule {
  variable: string;
  /** Checked only when NODE_ENV=production. */
  productionOnly: boolean;
  refuses(facts: Facts): boolean;
  message: string | ((facts: Facts) => string);
}

const HTTPS_TO_WECHAT = 'must be https:// when NODE_ENV=production (plain http only to a loopback proxy)';

/** The built-in emulator listens on EMULATOR_PORT (an emulator at WECHAT_EMULATOR_URL: not ours). */
const builtInEmulator = ({ emulator, env }: Facts) => emulator && env.WECHAT_EMULATOR_URL === undefined;

/**
 * Every refusal that reads more than one variable, or production: in the order they are reported.
 * A variable's own checks (its shape, its entries) stay with its schema or its parser (env.ts,
 * wechat-apps.ts, network.ts, webhooks.ts).
 */
export const RULES: readonly Rule[] = [
  {
    variable: 'AUTH_SECRET',
    productionOnly: false,
    refuses: ({ env }) => env.AUTH_SECRET !== undefined && env.AUTH_SECRET.length < 32,
    message: 'must be at least 32 characters',
  },
  {
    variable: 'AUTH_SECRET',
    productionOnly: true,
    refuses: ({ env }) => env.AUTH_SECRET === undefined,
    message: 'required when NODE_ENV=production (at least 32 characters)',
  },
  {
    variable: 'AUTH_SECRET_PREVIOUS',
    productionOnly: false,
    refuses: ({ authSecretPrevious }) => authSecretPrevious.some((secret) => secret.length < 32),
    message: 'each comma-separated secret must be at least 32 characters',
  },
  {
    variable: 'WECHAT_EMULATOR',
    productionOnly: true,
    refuses: ({ env }) => env.WECHAT_EMULATOR === 'on',
    message: 'cannot be on when NODE_ENV=production',
  },
  {
    variable: 'WECHAT_EMULATOR_URL',
    productionOnly: true,
    refuses: ({ env }) => env.WECHAT_EMULATOR_URL !== undefined,
    message: 'cannot be set when NODE_ENV=production',
  },
  {
    variable: 'WECHAT_EMULATOR_URL',
    productionOnly: false,
    refuses: ({ env }) => env.WECHAT_EMULATOR_URL !== undefined && env.WECHAT_EMULATOR === 'off',
    message: 'cannot be set with WECHAT_EMULATOR=off',
  },
  {
    variable: 'WECHAT_*_APPID',
    productionOnly: true,
    refuses: ({ anyCredentials }) => !anyCredentials,
    message:
      'NODE_ENV=production needs at least one app (WECHAT_WEB_, WECHAT_APP_, WECHAT_MINI_ or WECHAT_OA_APPID and _SECRET, or WECHAT_APPS)',
  },
  {
    variable: 'DATABASE_URL',
    productionOnly: true,
    refuses: ({ env }) => env.DATABASE_URL === undefined,
    message: 'required when NODE_ENV=production (the embedded database is for development)',
  },
  {
    variable: 'WECHAT_API_BASE_URL',
    productionOnly: true,
    refuses: ({ env }) => !isHttpsOrLoopback(env.WECHAT_API_BASE_URL),
    message: HTTPS_TO_WECHAT,
  },
  {
    variable: 'WECHAT_OPEN_BASE_URL',
    productionOnly: true,
    refuses: ({ env }) => !isHttpsOrLoopback(env.WECHAT_OPEN_BASE_URL),
    message: HTTPS_TO_WECHAT,
  },
  {
    variable: 'WEB_CONCURRENCY',
    productionOnly: false,
    refuses: ({ env }) => env.WEB_CONCURRENCY > 1 && env.DATABASE_URL === undefined,
    message:
      'more than 1 needs DATABASE_URL: the embedded database (PGlite) serves one process; ' +
      'set DATABASE_URL to a PostgreSQL server, or unset WEB_CONCURRENCY',
  },
  {
    variable: 'METRICS_PORT',
    productionOnly: false,
    refuses: ({ env }) => env.METRICS_PORT !== undefined && env.METRICS_PORT === env.PORT,
    message: 'must differ from PORT (metrics are never served on the public port)',
  },
  {
    variable: 'EMULATOR_PORT',
    productionOnly: false,
    refuses: (facts) =>
      builtInEmulator(facts) && facts.env.EMULATOR_PORT === facts.env.PORT && facts.env.PORT !== 0,
    message: ({ env }) =>
      `must differ from PORT (both are ${env.PORT}): the server listens on PORT and the built-in WeChat emulator on ` +
      'EMULATOR_PORT, each needs its own (unset EMULATOR_PORT for its default, 4100)',
  },
  {
    variable: 'METRICS_PORT',
    productionOnly: false,
    refuses: (facts) => builtInEmulator(facts) && facts.env.METRICS_PORT === facts.env.EMULATOR_PORT,
    message: 'must differ from EMULATOR_PORT (the built-in WeChat emulator listens there)',
  },
  {
    variable: 'WECHAT_OA_AES_KEY',
    productionOnly: true,
    refuses: ({ plainPushApps }) => plainPushApps.length > 0,
    message: ({ plainPushApps }) =>
      `required with a Token when NODE_ENV=production (${plainPushApps.join(', ')}): plain mode signs the ` +
      'time, not the message, so a push seen once could sign anyone in; set the EncodingAESKey ' +
      '(WECHAT_OA_AES_KEY, or aesKey in WECHAT_APPS) and choose 安全模式 (safe) or 兼容模式 (compatible)',
  },
  {
    variable: 'PUBLIC_URL',
    productionOnly: true,
    refuses: ({ publicUrl }) => !isHttpsOrLoopback(publicUrl),
    message: 'must be https:// when NODE_ENV=production (plain http only on loopback)',
  },
];

/** Reports every rule that refuses these facts, in the table's order. */
export function applyRules(ctx: z.RefinementCtx, facts: Facts, rules: readonly Rule[] = RULES): void {
  for (const rule of rules) {
    if (rule.productionOnly && !facts.isProduction) continue;
    if (!rule.refuses(facts)) continue;
    refuse(ctx, rule.variable, typeof rule.message === 'string' ? rule.message : rule.message(facts));
  }
}
