import { Arg, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import { UnauthenticatedError } from '../../errors.js';
import type { Context } from '../../server/context.js';
import { AuthPayload } from '../types/auth.type.js';
import { toAuthPayload, toUserType } from '../types/mappers.js';
import { UserType } from '../types/user.type.js';

@Resolver()
export class SessionResolver {
  @Query(() => UserType, {
    nullable: true,
    description: 'The signed-in user, from "Authorization: Bearer <accessToken>"; null without a token.',
  })
  async me(@Ctx() ctx: Context): Promise<UserType | null> {
    const auth = await ctx.auth();
    return auth ? toUserType(auth.user) : null;
  }

  @Mutation(() => AuthPayload, {
    description: 'A new access token and a new refresh token; the one given stops working.',
  })
  async refreshSession(@Arg('refreshToken', () => String) refreshToken: string, @Ctx() ctx: Context) {
    if (refreshToken.length === 0 || refreshToken.length > 256) {
      throw new UnauthenticatedError('The refresh token is invalid, expired or revoked: sign in again');
    }
    await ctx.services.rateLimiter.ip(ctx.em, 'refresh', ctx.request.ip);
    const tokens = await ctx.services.sessions.refresh(ctx.em, refreshToken);
    return toAuthPayload({ ...tokens, isNewUser: false });
  }

  @Mutation(() => Boolean, { description: 'Ends the caller’s session: its refresh token stops working.' })
  async logout(@Ctx() ctx: Context): Promise<boolean> {
    const auth = await ctx.auth();
    if (!auth) throw new UnauthenticatedError();
    await ctx.services.sessions.revoke(ctx.em, auth.sessionId, 'logout');
    return true;
  }
}
