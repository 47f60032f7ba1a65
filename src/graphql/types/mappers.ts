import type { UserSummary } from '../../identity/user.repository.js';
import type { LoginResult } from '../../logins/sign-in.js';
import type { AuthPayload } from './auth.type.js';
import type { UserType } from './user.type.js';

/**
 * Who will read a user: their phone number is shown to that user alone (docs/api.md, "Phone
 * numbers"). `null`: someone else, or nobody signed in.
 */
export type Viewer = { readonly userId: string } | null;

/** The GraphQL face of a user, as `viewer` may see it; loginMethods are resolved on demand by UserResolver. */
export function toUserType(user: UserSummary, viewer: Viewer): UserType {
  return {
    id: user.id,
    nickname: user.nickname,
    avatarUrl: user.avatarUrl,
    phoneNumber: viewer?.userId === user.id ? user.phoneNumber : null,
    createdAt: user.createdAt,
  };
}

/** A login's or refresh's answer: its caller has just proved to be this user, so sees it as its owner. */
export function toAuthPayload(
  result: Pick<
    LoginResult,
    'accessToken' | 'refreshToken' | 'expiresAt' | 'isNewUser' | 'otherAccountExists' | 'user'
  >,
): AuthPayload {
  return {
    accessToken: result.accessToken,
    refreshToken: result.refreshToken,
    expiresAt: result.expiresAt,
    isNewUser: result.isNewUser,
    otherAccountExists: result.otherAccountExists,
    user: toUserType(result.user, { userId: result.user.id }),
  };
}
