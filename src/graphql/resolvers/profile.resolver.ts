import { Arg, Authorized, Ctx, Mutation, Resolver, UseMiddleware } from 'type-graphql';
import { limitAccountChanges } from '../account-change-limit.js';
import type { Authenticated } from '../../sessions/session.service.js';
import { byUser, type Context } from '../context.js';
import { CurrentUser } from '../current-user.js';
import { UpdateProfileInput } from '../inputs/profile.input.js';
import { toUserType } from '../types/mappers.js';
import { UserType } from '../types/user.type.js';

@Resolver()
export class ProfileResolver {
  @Authorized()
  @UseMiddleware(limitAccountChanges)
  @Mutation(() => UserType, {
    description:
      'Sets the signed-in person’s own nickname and/or avatar. From then on logins only fill what is ' +
      'still empty from WeChat’s profile, never replace what the person chose.',
  })
  async updateProfile(
    @Arg('input', () => UpdateProfileInput) input: UpdateProfileInput,
    @CurrentUser() auth: Authenticated,
    @Ctx() ctx: Context,
  ): Promise<UserType> {
    return toUserType(
      await ctx.services.profiles.update(ctx.em, auth.userId, input, byUser(ctx, auth)),
      auth,
    );
  }
}
