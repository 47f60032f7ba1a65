import { createParameterDecorator } from 'type-graphql';
import { UnauthenticatedError } from '../errors.js';
import type { Authenticated } from '../sessions/session.service.js';
import type { Context } from './context.js';

/**
 * The signed-in caller as a resolver parameter (`@CurrentUser() auth: Authenticated`), beside
 * `@Authorized()`: the access token checked once per request (ctx.auth() remembers it), and a
 * request without one UNAUTHENTICATED.
 */
export function CurrentUser(): ReturnType<typeof createParameterDecorator> {
  return createParameterDecorator<Context>(async ({ context }): Promise<Authenticated> => {
    const auth = await context.auth();
    if (!auth) throw new UnauthenticatedError();
    return auth;
  });
}
