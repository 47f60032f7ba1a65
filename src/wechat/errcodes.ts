import { AppError, type ErrorCode, type ErrorDetails } from '../errors.js';

/**
 * WeChat errcodes by what the client should do about them (docs/wechat.md, "Errcodes").
 * Matched on errcode only, never on errmsg: WeChat appends request ids and hints to errmsg.
 */
export const INVALID_CODE_ERRCODES = new Set([40029, 40163, 42003]);
export const BLOCKED_ERRCODES = new Set([40226]);
/** 44990: URL Links asked for too fast; 45009: a daily quota (URL Links) used up. */
export const RATE_LIMIT_ERRCODES = new Set([44990, 45009, 45011, 45033]);
export const UNAVAILABLE_ERRCODES = new Set([-1]);
/**
 * Our appid, secret, IP or permissions are wrong: an operator's problem, details only in the log.
 * 40097 and 41030 (a URL Link's arguments, a page that is not published): WECHAT_MINI_TICKET_PAGE.
 */
export const CONFIG_ERRCODES = new Set([
  40001, 40002, 40013, 40097, 40125, 40164, 40169, 40243, 41002, 41004, 41030, 48001, 61004, 85079, 89501,
  89503, 89506, 89507,
]);

/**
 * The app access token we sent is invalid, was replaced or has expired: the call is retried once
 * with a fresh token (docs/wechat.md, "The app access token").
 */
export const APP_TOKEN_ERRCODES = new Set([40001, 40014, 42001]);

/** An error WeChat answered (or failed to answer), as the client sees it. */
export class WeChatError extends AppError {
  override name = 'WeChatError';

  constructor(
    code: ErrorCode,
    message: string,
    details: ErrorDetails = {},
    /** WeChat's errcode, for the server's own decisions; a client sees it only when `details` has it. */
    readonly errcode?: number,
  ) {
    super(code, message, details);
  }
}

/** The typed error for a WeChat errcode (the client sees no errmsg; config details go to the log). */
export function errorForErrcode(errcode: number): WeChatError {
  if (INVALID_CODE_ERRCODES.has(errcode)) {
    return new WeChatError(
      'WECHAT_INVALID_CODE',
      'WeChat says the login code is invalid, already used or expired: get a new code and try again',
      { wechatErrcode: errcode, field: 'code' },
      errcode,
    );
  }
  if (BLOCKED_ERRCODES.has(errcode)) {
    return new WeChatError(
      'WECHAT_CODE_BLOCKED',
      'WeChat blocked this login (high-risk user)',
      { wechatErrcode: errcode },
      errcode,
    );
  }
  if (RATE_LIMIT_ERRCODES.has(errcode)) {
    return new WeChatError(
      'WECHAT_RATE_LIMITED',
      'WeChat is limiting the rate of calls: try again in a minute',
      { wechatErrcode: errcode },
      errcode,
    );
  }
  if (CONFIG_ERRCODES.has(errcode)) {
    return new WeChatError(
      'WECHAT_CONFIG_ERROR',
      'WeChat rejected this server’s app configuration',
      {},
      errcode,
    );
  }
  return new WeChatError(
    'WECHAT_UNAVAILABLE',
    'WeChat is unavailable: try again shortly',
    UNAVAILABLE_ERRCODES.has(errcode) ? {} : { wechatErrcode: errcode },
    errcode,
  );
}

export function unavailable(): WeChatError {
  return new WeChatError('WECHAT_UNAVAILABLE', 'WeChat is unavailable: try again shortly');
}
