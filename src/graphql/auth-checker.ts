import type { AuthChecker } from 'type-graphql';
import { UnauthenticatedError } from '../errors.js';
import type { Context } from './context.js';

/**
 * `@Authorized()`: the request must carry a valid access token of an open session. A missing
 * token is UNAUTHENTICATED like a bad one; the resolver then reads the caller from `ctx.auth()`.
 */
export const authChecker: AuthChecker<Context> = async ({ context }) => {
  if (!(await context.auth())) throw new UnauthenticatedError();
  return true;
};
