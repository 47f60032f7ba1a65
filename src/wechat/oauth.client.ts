import { z } from 'zod';
import type { PlatformCredentials } from '../config.js';
import { ANONYMOUS_NICKNAME, ENDPOINTS } from './endpoints.js';
import type { WeChatHttp } from './http.js';
import { optionalId } from './schemas.js';

const AccessTokenResponse = z.object({
  access_token: z.string().min(1),
  expires_in: z.coerce.number(),
  refresh_token: z.string().min(1),
  openid: z.string().min(1),
  scope: z.string().default(''),
  unionid: optionalId,
  /** 1 only for a virtual account of an official account page opened in snapshot mode. */
  is_snapshotuser: z.coerce.number().optional(),
});

const UserInfoResponse = z.object({
  openid: z.string().min(1),
  nickname: z.string().optional(),
  headimgurl: z.string().optional(),
  unionid: optionalId,
});

export interface OAuthToken {
  openId: string;
  unionId: string | undefined;
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  scope: string;
  /** A virtual account (an official account page opened in WeChat's snapshot mode): never a user. */
  isSnapshotUser: boolean;
}

export interface WeChatProfile {
  /** Undefined when WeChat gave none, or only its anonymised "微信用户". */
  nickname: string | undefined;
  avatarUrl: string | undefined;
  unionId: string | undefined;
}

/**
 * WeChat's user OAuth, shared by website (QR), mobile-app and official account logins:
 * code → token → userinfo.
 */
export class OAuthClient {
  constructor(private readonly http: WeChatHttp) {}

  /**
   * Exchanges a login code. Single use: never retried once it may have reached WeChat.
   * https://developers.weixin.qq.com/doc/oplatform/Website_App/WeChat_Login/Wechat_Login.html
   */
  async exchangeCode(app: PlatformCredentials, code: string): Promise<OAuthToken> {
    const body = await this.http.get(
      ENDPOINTS.oauthAccessToken,
      { appid: app.appId, secret: app.secret, code, grant_type: 'authorization_code' },
      AccessTokenResponse,
      'single-use',
    );
    return {
      openId: body.openid,
      unionId: body.unionid,
      accessToken: body.access_token,
      refreshToken: body.refresh_token,
      expiresIn: body.expires_in,
      scope: body.scope,
      isSnapshotUser: body.is_snapshotuser === 1,
    };
  }

  /** https://developers.weixin.qq.com/doc/service/api/webdev/access/api_snsuserinfo */
  async userInfo(accessToken: string, openId: string): Promise<WeChatProfile> {
    const body = await this.http.get(
      ENDPOINTS.userInfo,
      { access_token: accessToken, openid: openId },
      UserInfoResponse,
      'idempotent',
    );
    const real = body.nickname && body.nickname !== ANONYMOUS_NICKNAME;
    return {
      nickname: real ? body.nickname : undefined,
      avatarUrl: real && body.headimgurl ? body.headimgurl : undefined,
      unionId: body.unionid,
    };
  }
}
