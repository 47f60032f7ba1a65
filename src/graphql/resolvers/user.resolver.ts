import { Ctx, FieldResolver, Resolver, Root } from 'type-graphql';
import { UnauthenticatedError } from '../../errors.js';
import type { Context } from '../context.js';
import { SessionType } from '../types/session.type.js';
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

  /** The user's own live sessions, to that user alone: loaded only when asked for. */
  @FieldResolver(() => [SessionType])
  async sessions(@Root() user: UserType, @Ctx() ctx: Context): Promise<SessionType[]> {
    const current = user.viewerSession;
    if (current === null) throw new UnauthenticatedError('A user’s sessions are shown to that user alone');
    const sessions = await ctx.services.sessions.list(ctx.em, user.id);
    return sessions.map((session) => ({ ...session, current: session.id === current }));
  }
}
