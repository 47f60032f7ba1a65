import { Ctx, FieldResolver, Resolver, Root } from 'type-graphql';
import { UserLoginMethod } from '../../accounts/user-login-method.entity.js';
import type { Context } from '../../server/context.js';
import { LoginMethodType, UserType } from '../types/user.type.js';

@Resolver(() => UserType)
export class UserResolver {
  /** Loaded only when a client asks for it. */
  @FieldResolver(() => [LoginMethodType])
  async loginMethods(@Root() user: UserType, @Ctx() ctx: Context): Promise<LoginMethodType[]> {
    const methods = await ctx.em.find(UserLoginMethod, { user: user.id }, { orderBy: { createdAt: 'asc' } });
    return methods.map((m) => ({
      kind: m.kind,
      appId: m.appId,
      openId: m.openId,
      unionId: m.unionId,
      lastLoginAt: m.lastLoginAt,
    }));
  }
}
