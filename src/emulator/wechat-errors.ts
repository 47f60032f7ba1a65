import { randomBytes } from 'node:crypto';

/** A body as WeChat sends it: an error has errcode/errmsg, a success usually has neither. */
export type WeChatBody = Record<string, unknown>;

/** WeChat's English errmsg for each errcode the emulator answers. */
const ERRMSG: Record<number, string> = {
  [-1]: 'system error',
  40001: 'invalid credential, access_token is invalid or not latest',
  40002: 'invalid grant_type',
  40003: 'invalid openid',
  40013: 'invalid appid',
  40014: 'invalid access_token',
  40029: 'invalid code',
  40030: 'invalid refresh_token',
  40097: 'invalid args',
  40125: 'invalid appsecret',
  40163: 'code been used',
  40169: 'invalid scene',
  40226: 'code blocked',
  41001: 'access_token missing',
  41002: 'appid missing',
  41003: 'refresh_token missing',
  41004: 'appsecret missing',
  41008: 'missing code',
  41009: 'missing openid',
  41030: 'invalid page',
  42001: 'access_token expired',
  42002: 'refresh_token expired',
  42003: 'code expired',
  44002: 'empty post data',
  45011: 'api minute-quota reach limit mustslower retry next minute',
  47001: 'data format error',
  48001: 'api unauthorized',
  87009: 'invalid signature',
};

/** WeChat's request id, as it ends every errmsg. */
export function rid(): string {
  const hex = randomBytes(12).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 16)}-${hex.slice(16)}`;
}

/** WeChat's error body, errmsg with its `rid:` suffix. */
export function wechatError(errcode: number): WeChatBody {
  return { errcode, errmsg: `${ERRMSG[errcode] ?? 'error'}, rid: ${rid()}` };
}

/** True for an error body (errcode other than 0): the value to answer as it is. */
export function isError(result: WeChatBody | object): result is WeChatBody {
  return typeof (result as WeChatBody).errcode === 'number' && (result as WeChatBody).errcode !== 0;
}

/** An opaque token WeChat would issue (access tokens, refresh tokens). */
export function opaqueToken(bytes = 48): string {
  return randomBytes(bytes).toString('base64url');
}
