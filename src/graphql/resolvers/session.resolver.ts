import { Arg, Authorized, Ctx, ID, Mutation, Query, Resolver, UseMiddleware } from 'type-graphql';
import { UnauthenticatedError } from '../../errors.js';
import type { Authenticated } from '../../sessions/session.service.js';
import { limitAccountChanges } from '../account-change-limit.js';
import { requestClient, type Context } from '../context.js';
import { CurrentUser } from '../current-user.js';
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
    return auth ? toUserType(auth.user, auth) : null;
  }

  @Mutation(() => AuthPayload, {
    description: 'A new access token and a new refresh token; the one given stops working.',
  })
  async refreshSession(@Arg('refreshToken', () => String) refreshToken: string, @Ctx() ctx: Context) {
    const refreshed = await ctx.services.sessions.refresh(ctx.em, refreshToken, requestClient(ctx));
    return toAuthPayload({ ...refreshed, isNewUser: false });
  }

  @Mutation(() => Boolean, {
    description:
      'Ends a session: the one of `refreshToken` when given (it works after the access token has expired), ' +
      'else the bearer’s. Its access and refresh tokens stop working here at once. Ending an ended session again is true.',
  })
  async logout(
    @Arg('refreshToken', () => String, {
      nullable: true,
      description: 'A refresh token of the session to end, current or already rotated.',
    })
    refreshToken: string | null | undefined,
    @Ctx() ctx: Context,
  ): Promise<boolean> {
    if (refreshToken != null) {
      await ctx.services.sessions.revokeByRefreshToken(ctx.em, refreshToken, requestClient(ctx));
      return true;
    }
    const auth = await ctx.auth();
    if (!auth) {
      throw new UnauthenticatedError(
        'Nothing to log out: send "Authorization: Bearer <accessToken>" or the refreshToken argument',
      );
    }
    await ctx.services.sessions.logout(ctx.em, auth, requestClient(ctx));
    return true;
  }

  @Authorized()
  @UseMiddleware(limitAccountChanges)
  @Mutation(() => Boolean, {
    description:
      'Ends one of the signed-in person’s own sessions (me { sessions }): its access and refresh tokens stop ' +
      'working at once. The current one may be ended too (a logout). An id that is not one of their live ' +
      'sessions, whoever’s it is: BAD_USER_INPUT.',
  })
  async revokeSession(
    @Arg('id', () => ID) id: string,
    @CurrentUser() auth: Authenticated,
    @Ctx() ctx: Context,
  ): Promise<boolean> {
    await ctx.services.sessions.revokeOwn(ctx.em, auth.userId, id, requestClient(ctx));
    return true;
  }
}
