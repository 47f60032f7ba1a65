import type { User } from '../../identity/user.entity.js';
import type { LoginResult } from '../../logins/sign-in.js';
import type { AuthPayload } from './auth.type.js';
import type { UserType } from './user.type.js';

/** The GraphQL face of a user; loginMethods are resolved on demand by UserResolver. */
export function toUserType(user: User): UserType {
  return {
    id: user.id,
    nickname: user.nickname,
    avatarUrl: user.avatarUrl,
    createdAt: user.createdAt,
  };
}

export function toAuthPayload(
  result: Pick<LoginResult, 'accessToken' | 'refreshToken' | 'expiresAt' | 'isNewUser' | 'user'>,
): AuthPayload {
  return {
    accessToken: result.accessToken,
    refreshToken: result.refreshToken,
    expiresAt: result.expiresAt,
    isNewUser: result.isNewUser,
    user: toUserType(result.user),
  };
}
