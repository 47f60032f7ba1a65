import { Arg, Authorized, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import type { Context } from '../context.js';
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
    const refreshed = await ctx.services.sessions.refresh(ctx.em, refreshToken, ctx.clientIp);
    return toAuthPayload({ ...refreshed, isNewUser: false });
  }

  @Authorized()
  @Mutation(() => Boolean, { description: 'Ends the caller’s session: its refresh token stops working.' })
  async logout(@Ctx() ctx: Context): Promise<boolean> {
    const { sessionId } = (await ctx.auth())!;
    await ctx.services.sessions.revoke(ctx.em, sessionId, 'logout');
    return true;
  }
}
