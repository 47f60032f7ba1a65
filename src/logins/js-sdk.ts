import { createHash, randomInt } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { JsapiTickets } from '../app-tokens/jsapi-tickets.js';
import type { Config } from '../config.js';
import { BadUserInputError } from '../errors.js';
import { credentialsFor } from './platform.js';

/** What `wx.config` takes on a page inside WeChat (besides `jsApiList`). */
export interface JsSdkConfig {
  appId: string;
  /** Unix time, seconds. */
  timestamp: number;
  nonceStr: string;
  signature: string;
}

const MAX_URL_LENGTH = 2048;
const NONCE_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * The JS-SDK signature WeChat checks in `wx.config`: hex(SHA-1 of
 * `jsapi_ticket=…&noncestr=…&timestamp=…&url=…`), the url being the page's own, without its
 * fragment, exactly as the browser has it.
 * https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/JS-SDK.html#62
 */
export function jsSdkSignature(ticket: string, nonceStr: string, timestamp: number, url: string): string {
  return createHash('sha1')
    .update(`jsapi_ticket=${ticket}&noncestr=${nonceStr}&timestamp=${timestamp}&url=${url}`)
    .digest('hex');
}

/** `wechatJsSdkConfig`: the signed config of an official account's page, with the shared jsapi_ticket. */
export class JsSdkConfigs {
  constructor(
    private readonly config: Config,
    private readonly tickets: JsapiTickets,
  ) {}

  async sign(em: EntityManager, url: string, appId: string | null | undefined): Promise<JsSdkConfig> {
    const app = credentialsFor(this.config, 'official', appId);
    const page = url.split('#')[0]!;
    if (page.length > MAX_URL_LENGTH || !URL.canParse(page) || !/^https?:$/.test(new URL(page).protocol)) {
      throw new BadUserInputError('url must be the page’s absolute http(s) URL (location.href)', 'url');
    }
    // Only pages of this official account: the origins of its redirect allowlist (none in
    // production without one; any in development without one).
    if (app.redirectUris !== null) {
      const origin = new URL(page).origin;
      if (!app.redirectUris.some((uri) => new URL(uri).origin === origin)) {
        throw new BadUserInputError(
          'url is not a page of this official account: its origin is in none of its redirect URIs',
          'url',
        );
      }
    }
    const ticket = await this.tickets.ticket(em, app);
    const timestamp = Math.floor(Date.now() / 1000);
    const nonceStr = Array.from({ length: 16 }, () => NONCE_ALPHABET[randomInt(NONCE_ALPHABET.length)]).join(
      '',
    );
    return {
      appId: app.appId,
      timestamp,
      nonceStr,
      signature: jsSdkSignature(ticket, nonceStr, timestamp, page),
    };
  }
}
