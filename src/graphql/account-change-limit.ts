import type { MiddlewareFn } from 'type-graphql';
import type { Context } from './context.js';

/**
 * Counts one change to the signed-in person's account against their per-minute budget
 * (RATE_LIMIT_USER_PER_MINUTE) before the resolver runs: RATE_LIMITED with retryAfterSeconds once
 * it is spent. For mutations behind @Authorized(), which has checked the bearer already. A stolen
 * or scripted session cannot churn the account (and its `user.updated` webhooks) faster than this.
 */
export const limitAccountChanges: MiddlewareFn<Context> = async ({ context }, next) => {
  const auth = await context.auth();
  if (auth) await context.services.rateLimiter.user(auth.userId);
  return next();
};
