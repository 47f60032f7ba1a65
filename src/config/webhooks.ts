import { z } from 'zod';
import { commaList, refuse, type Env } from './env.js';
import { isHttpsOrLoopback } from './network.js';

/** Standard Webhooks' secret: `whsec_` + base64 of 24 to 64 random bytes. */
const WEBHOOK_SECRET = /^whsec_([A-Za-z0-9+/]+={0,2})$/;

/**
 * WEBHOOK_URLS and WEBHOOK_SECRET: the endpoints that receive account events (docs/webhooks.md),
 * none when unset. Production takes https, or plain http to this machine only.
 */
export function webhooks(env: Env, ctx: z.RefinementCtx, isProduction: boolean) {
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
