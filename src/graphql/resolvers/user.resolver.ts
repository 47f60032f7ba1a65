import { Ctx, FieldResolver, Resolver, Root } from 'type-graphql';
import type { Context } from '../context.js';
import { LoginMethodType, UserType } from '../types/user.type.js';

@Resolver(() => UserType)
export class UserResolver {
  /** Loaded only when a client asks for it; one query per request, however many ask. */
  @FieldResolver(() => [LoginMethodType])
  async loginMethods(@Root() user: UserType, @Ctx() ctx: Context): Promise<LoginMethodType[]> {
    const methods = await ctx.loaders.loginMethods.load(user.id);
    return methods.map((m) => ({
      kind: m.kind,
      appId: m.appId,
      openId: m.openId,
      unionId: m.unionId,
      lastLoginAt: m.lastLoginAt,
    }));
  }
}
