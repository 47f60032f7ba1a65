import { z } from 'zod';
import type { PlatformCredentials } from '../config.js';
import { ENDPOINTS } from './endpoints.js';
import type { WeChatHttp } from './http.js';

const StableTokenResponse = z.object({
  access_token: z.string().min(1),
  expires_in: z.number().int().positive(),
});

export interface FetchedAppToken {
  /** Secret: never returned, never logged, stored only sealed. */
  accessToken: string;
  expiresInSeconds: number;
}

/** WeChat's app access token, the credential of server-side calls (phone numbers, …). */
export class AppTokenClient {
  constructor(private readonly http: WeChatHttp) {}

  /**
   * `stable_token`: the app's current token (from its last 5 minutes on, the next one); with
   * `forceRefresh`, a new one that ends the previous at once. A normal fetch is a read and is
   * retried like one; a forced one is never repeated once it may have reached WeChat.
   * https://developers.weixin.qq.com/doc/service/api/base/api_getstableaccesstoken
   */
  async stableToken(app: PlatformCredentials, forceRefresh: boolean): Promise<FetchedAppToken> {
    const body = await this.http.post(
      ENDPOINTS.stableToken,
      {},
      { grant_type: 'client_credential', appid: app.appId, secret: app.secret, force_refresh: forceRefresh },
      StableTokenResponse,
      forceRefresh ? 'single-use' : 'idempotent',
    );
    return { accessToken: body.access_token, expiresInSeconds: body.expires_in };
  }
}
