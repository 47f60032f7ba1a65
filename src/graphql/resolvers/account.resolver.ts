import { Arg, Authorized, Ctx, Mutation, Resolver, UseMiddleware } from 'type-graphql';
import { limitAccountChanges } from '../account-change-limit.js';
import type { Authenticated } from '../../sessions/session.service.js';
import { byUser, requestClient, type Context } from '../context.js';
import { CurrentUser } from '../current-user.js';
import { LinkWechatIdentityInput } from '../inputs/link.input.js';
import { toUserType } from '../types/mappers.js';
import { UserType } from '../types/user.type.js';

/** The signed-in person's account: link, merge, unlink, delete (bearer required for each). */
@Resolver()
export class AccountResolver {
  @Authorized()
  @UseMiddleware(limitAccountChanges)
  @Mutation(() => UserType, {
    description:
      'Adds a WeChat identity (another app, another platform) to the signed-in account. Already its own: ' +
      'no change. Another account’s: IDENTITY_IN_USE, unless merge: true merges that account into this ' +
      'one. A different WeChat person: IDENTITY_CONFLICT.',
  })
  async linkWechatIdentity(
    @Arg('input', () => LinkWechatIdentityInput) input: LinkWechatIdentityInput,
    @CurrentUser() auth: Authenticated,
    @Ctx() ctx: Context,
  ): Promise<UserType> {
    const user = await ctx.services.link.link(ctx.em, auth.userId, input, requestClient(ctx));
    // A later field of this request reads the methods as they are now, not as loaded before.
    ctx.loaders.loginMethods.clear(auth.userId);
    return toUserType(user, auth);
  }

  @Authorized()
  @UseMiddleware(limitAccountChanges)
  @Mutation(() => UserType, {
    description:
      'Removes one of the signed-in account’s login methods; never the last one (LAST_LOGIN_METHOD). ' +
      'The account keeps its unionId only while a remaining method carries it.',
  })
  async unlinkLoginMethod(
    @Arg('appId', () => String) appId: string,
    @Arg('openId', () => String) openId: string,
    @CurrentUser() auth: Authenticated,
    @Ctx() ctx: Context,
  ): Promise<UserType> {
    const user = await ctx.services.lifecycle.unlink(ctx.em, auth.userId, appId, openId, byUser(ctx, auth));
    ctx.loaders.loginMethods.clear(auth.userId);
    return toUserType(user, auth);
  }

  @Authorized()
  @Mutation(() => Boolean, {
    description:
      'Deletes the signed-in account: its login methods, WeChat credentials, nickname, avatar and phone ' +
      'number are erased and every session ends at once. The same WeChat person signing in later is a new user.',
  })
  async deleteAccount(@CurrentUser() auth: Authenticated, @Ctx() ctx: Context): Promise<boolean> {
    await ctx.services.lifecycle.delete(ctx.em, auth.userId, byUser(ctx, auth));
    return true;
  }
}
