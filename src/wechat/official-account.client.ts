import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import type { AppAccessTokens } from '../app-tokens/app-access-tokens.js';
import type { PlatformCredentials } from '../config.js';
import { ENDPOINTS } from './endpoints.js';
import type { WeChatHttp } from './http.js';

const QrResponse = z.object({ url: z.string().min(1).max(2048) });

const FollowerResponse = z.object({
  subscribe: z.number().int(),
  unionid: z.string().min(1).max(128).optional(),
});

/** What WeChat says of a person who pushed an event to an Official Account. */
export interface Follower {
  /** Follows the account now. */
  subscribed: boolean;
  /** Given when the account is bound to an Open Platform account (and the person follows). */
  unionId: string | undefined;
}

/** An Official Account's server-side calls that follow-login makes, with its app access token. */
export class OfficialAccountClient {
  constructor(
    private readonly http: WeChatHttp,
    private readonly appTokens: AppAccessTokens,
  ) {}

  /**
   * A temporary parametric QR code (`QR_STR_SCENE`) carrying `scene` for `seconds`: its `url`,
   * what the QR code must encode (we render it; browsers never load WeChat's image host).
   * 服务号 (service accounts) only; WeChat caps a temporary code at 30 days.
   */
  async qrUrl(em: EntityManager, app: PlatformCredentials, scene: string, seconds: number): Promise<string> {
    const body = await this.appTokens.withToken(em, app, (accessToken) =>
      this.http.post(
        ENDPOINTS.parametricQr,
        { access_token: accessToken },
        {
          expire_seconds: seconds,
          action_name: 'QR_STR_SCENE',
          action_info: { scene: { scene_str: scene } },
        },
        QrResponse,
        // A second code for the same scene is harmless: the scene, not the code, is the ticket.
        'idempotent',
      ),
    );
    return body.url;
  }

  /** `cgi-bin/user/info`: whether the person follows, and their unionid (a bound account only). */
  async follower(em: EntityManager, app: PlatformCredentials, openId: string): Promise<Follower> {
    const body = await this.appTokens.withToken(em, app, (accessToken) =>
      this.http.get(
        ENDPOINTS.followerInfo,
        { access_token: accessToken, openid: openId, lang: 'zh_CN' },
        FollowerResponse,
        'idempotent',
      ),
    );
    return { subscribed: body.subscribe === 1, unionId: body.unionid };
  }
}
