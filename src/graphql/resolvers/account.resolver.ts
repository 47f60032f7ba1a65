import { Query, Resolver } from 'type-graphql';
import { UserType } from '../types/user.type.js';

@Resolver()
export class AccountResolver {
  @Query(() => UserType, {
    nullable: true,
    description: 'The signed-in user, from "Authorization: Bearer <accessToken>"; null without a token.',
  })
  me(): UserType | null {
    return null;
  }
}
