/**
 * Domain errors: a code a client can act on, a message safe to show, and details. They know nothing
 * of GraphQL or HTTP; `src/graphql/format-error.ts` maps them to GraphQL errors and
 * `src/server/http-errors.ts` to HTTP answers. The codes are listed in docs/api.md.
 */
export type ErrorCode =
  | 'BAD_USER_INPUT'
  | 'UNAUTHENTICATED'
  | 'INVALID_STATE'
  | 'PLATFORM_NOT_CONFIGURED'
  | 'WECHAT_INVALID_CODE'
  | 'WECHAT_CODE_BLOCKED'
  | 'WECHAT_RATE_LIMITED'
  | 'WECHAT_UNAVAILABLE'
  | 'WECHAT_CONFIG_ERROR'
  | 'WECHAT_DECRYPT_FAILED'
  | 'WECHAT_SIGNATURE_MISMATCH'
  | 'WECHAT_SNAPSHOT_USER'
  | 'RATE_LIMITED'
  | 'IDENTITY_IN_USE'
  | 'IDENTITY_CONFLICT'
  | 'REGISTRATION_CLOSED'
  | 'USER_DISABLED'
  | 'LAST_LOGIN_METHOD'
  | 'TICKET_NOT_FOUND'
  | 'TICKET_EXPIRED'
  | 'FORBIDDEN';

/** Details a client may see beside the code (`field`, `retryAfterSeconds`, `wechatErrcode`). */
export type ErrorDetails = Readonly<Record<string, string | number>>;

/** An error whose message and code reach the client as they are; never internals. */
export class AppError extends Error {
  override name = 'AppError';

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: ErrorDetails = {},
  ) {
    super(message);
  }
}

export class BadUserInputError extends AppError {
  constructor(message: string, field?: string) {
    super('BAD_USER_INPUT', message, field ? { field } : {});
  }
}

export class UnauthenticatedError extends AppError {
  constructor(message = 'Not authenticated: the session token is missing, expired, revoked or invalid') {
    super('UNAUTHENTICATED', message);
  }
}

export class RateLimitedError extends AppError {
  constructor(retryAfterSeconds: number) {
    super('RATE_LIMITED', `Too many attempts: try again in ${retryAfterSeconds} s`, { retryAfterSeconds });
  }
}

/** An account an admin disabled (disableUser): its logins, refresh and bearer calls are refused. */
export class UserDisabledError extends AppError {
  /** `userId`: whose account, for the audit log (never sent to the client). */
  constructor(readonly userId: string | null = null) {
    super('USER_DISABLED', 'This account has been disabled by an administrator');
  }
}

/** A WeChat identity that matches no user, while registration is closed (REGISTRATION=closed). */
export class RegistrationClosedError extends AppError {
  constructor() {
    super('REGISTRATION_CLOSED', 'This service takes no new accounts: only existing users can sign in');
  }
}
