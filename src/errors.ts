import { GraphQLError } from 'graphql';

/** Every `extensions.code` a client can act on (DESIGN.md, "Errors"). */
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
  | 'RATE_LIMITED'
  | 'INTERNAL_SERVER_ERROR';

/** A domain error that reaches the client as it is: message and code, never internals. */
export class AppError extends GraphQLError {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, extra: Record<string, unknown> = {}) {
    super(message, { extensions: { code, ...extra } });
    this.code = code;
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
