import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import type { AppAccessTokens } from '../app-tokens/app-access-tokens.js';
import type { PlatformCredentials } from '../config.js';
import { ENDPOINTS } from './endpoints.js';
import type { WeChatHttp, WeChatImage } from './http.js';

const UrlLinkResponse = z.object({ url_link: z.string().url().max(2048) });

/** Mini program codes and URL Links that open a page of the mini program with a scene. */
export class MiniProgramCodeClient {
  constructor(
    private readonly http: WeChatHttp,
    private readonly appTokens: AppAccessTokens,
  ) {}

  /**
   * A mini program code (the round "sun" code) that opens `page` with `options.scene` = scene.
   * Unlimited in number. `page` must be a published page of the mini program (WeChat checks).
   * https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/qrcode-link/qr-code/getUnlimitedQRCode.html
   */
  code(em: EntityManager, app: PlatformCredentials, page: string, scene: string): Promise<WeChatImage> {
    return this.appTokens.withToken(em, app, (accessToken) =>
      this.http.postForImage(
        ENDPOINTS.miniProgramCode,
        { access_token: accessToken },
        { scene, page, check_path: true, env_version: 'release', width: 430 },
        'idempotent',
      ),
    );
  }

  /**
   * A URL Link (https://wxaurl.cn/…) that opens `page?scene=…` in the mini program from a phone
   * browser outside WeChat; valid for a day. Counted against a daily quota per mini program.
   * https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/qrcode-link/url-link/generateUrlLink.html
   */
  async link(em: EntityManager, app: PlatformCredentials, page: string, scene: string): Promise<string> {
    const body = await this.appTokens.withToken(em, app, (accessToken) =>
      this.http.post(
        ENDPOINTS.urlLink,
        { access_token: accessToken },
        {
          path: page,
          query: `scene=${scene}`,
          expire_type: 1,
          expire_interval: 1,
          env_version: 'release',
        },
        UrlLinkResponse,
        // A link counts against the day's quota: never asked twice after it may have been made.
        'single-use',
      ),
    );
    return body.url_link;
  }
}
