import { z } from 'zod';
import type { PlatformCredentials } from '../config.js';
import { ENDPOINTS } from './endpoints.js';
import type { WeChatHttp } from './http.js';
import { optionalId } from './schemas.js';

const SessionResponse = z.object({
  openid: z.string().min(1),
  session_key: z.string().min(1),
  unionid: optionalId,
});

export interface MiniProgramSession {
  openId: string;
  unionId: string | undefined;
  /** Secret: never returned, never logged, stored only encrypted. */
  sessionKey: string;
}

/** Mini program login: `wx.login` code → openid, unionid and session key. */
export class MiniProgramClient {
  constructor(private readonly http: WeChatHttp) {}

  /**
   * Single use: never retried once it may have reached WeChat.
   * https://developers.weixin.qq.com/miniprogram/dev/server/API/user-login/api_code2session
   */
  async codeToSession(app: PlatformCredentials, code: string): Promise<MiniProgramSession> {
    const body = await this.http.get(
      ENDPOINTS.jscode2session,
      { appid: app.appId, secret: app.secret, js_code: code, grant_type: 'authorization_code' },
      SessionResponse,
      'single-use',
    );
    return { openId: body.openid, unionId: body.unionid, sessionKey: body.session_key };
  }
}
