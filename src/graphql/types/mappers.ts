import type { UserSummary } from '../../identity/user.repository.js';
import type { LoginResult } from '../../logins/sign-in.js';
import type { AuthPayload } from './auth.type.js';
import type { UserType } from './user.type.js';

/**
 * Who will read a user, through which of their sessions: their phone number and sessions are shown
 * to that user alone (docs/api.md, "Phone numbers", "Sessions"). `null`: nobody signed in.
 */
export type Viewer = { readonly userId: string; readonly sessionId: string } | null;

/**
 * The GraphQL face of a user, as `viewer` may see it; loginMethods and sessions are resolved on
 * demand by UserResolver.
 */
export function toUserType(user: UserSummary, viewer: Viewer): UserType {
  const own = viewer?.userId === user.id;
  return {
    id: user.id,
    nickname: user.nickname,
    avatarUrl: user.avatarUrl,
    phoneNumber: own ? user.phoneNumber : null,
    createdAt: user.createdAt,
    viewerSession: own ? viewer.sessionId : null,
  };
}

/** A login's or refresh's answer: its caller has just proved to be this user, so sees it as its owner. */
export function toAuthPayload(
  result: Pick<
    LoginResult,
    'sessionId' | 'accessToken' | 'refreshToken' | 'expiresAt' | 'isNewUser' | 'otherAccountExists' | 'user'
  >,
): AuthPayload {
  return {
    accessToken: result.accessToken,
    refreshToken: result.refreshToken,
    expiresAt: result.expiresAt,
    isNewUser: result.isNewUser,
    otherAccountExists: result.otherAccountExists,
    user: toUserType(result.user, { userId: result.user.id, sessionId: result.sessionId }),
  };
}
