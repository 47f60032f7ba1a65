import { Arg, Authorized, Ctx, Mutation, Resolver, UseMiddleware } from 'type-graphql';
import { limitAccountChanges } from '../account-change-limit.js';
import type { Authenticated } from '../../sessions/session.service.js';
import { byUser, type Context } from '../context.js';
import { CurrentUser } from '../current-user.js';
import { toUserType } from '../types/mappers.js';
import { UserType } from '../types/user.type.js';

@Resolver()
export class PhoneNumberResolver {
  @Authorized()
  @UseMiddleware(limitAccountChanges)
  @Mutation(() => UserType, {
    description:
      'Stores the phone number of a mini program’s getPhoneNumber button on the signed-in user ' +
      '(bearer required) and returns the user, phoneNumber included.',
  })
  async bindWechatPhoneNumber(
    @Arg('code', () => String, {
      description: 'The code of the getPhoneNumber button (e.detail.code), not a wx.login code.',
    })
    code: string,
    @Arg('appId', () => String, {
      nullable: true,
      description:
        'The mini program the code comes from: required when this server has more than one, else optional.',
    })
    appId: string | null | undefined,
    @CurrentUser() auth: Authenticated,
    @Ctx() ctx: Context,
  ): Promise<UserType> {
    const user = await ctx.services.phoneNumbers.bind(ctx.em, auth.userId, code, appId, byUser(ctx, auth));
    return toUserType(user, auth);
  }
}
