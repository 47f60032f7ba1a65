import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { AppAccessTokens } from '../app-tokens/app-access-tokens.js';
import type { PlatformCredentials } from '../config.js';
import { ENDPOINTS } from './endpoints.js';
import { WeChatError } from './errcodes.js';
import type { WeChatHttp } from './http.js';

/** E.164: a country code of 1-3 digits (no leading 0), at most 15 digits in all. */
const PhoneInfo = z
  .object({
    purePhoneNumber: z.string().regex(/^\d{4,14}$/),
    // WeChat's pages show a number (86), its answers a string ("86"): either is taken.
    countryCode: z
      .union([z.string(), z.number()])
      .transform(String)
      .pipe(z.string().regex(/^[1-9]\d{0,2}$/)),
    watermark: z.object({ appid: z.string() }),
  })
  .refine((info) => info.countryCode.length + info.purePhoneNumber.length <= 15, {
    path: ['purePhoneNumber'],
  });

const PhoneNumberResponse = z.object({ phone_info: PhoneInfo });

/** WeChat's answer when the code is not the openid's we sent beside it. */
const OTHER_PERSON_ERRCODE = 40003;

/** A phone-number code WeChat refused: not the login code, and the client should ask again. */
function phoneCodeRefused(errcode: number | undefined, field: string): WeChatError {
  return new WeChatError(
    'WECHAT_INVALID_CODE',
    'WeChat refused the phone-number code (invalid, already used, expired, of another mini program or ' +
      'of another WeChat user): ask the person to tap the phone-number button again',
    { ...(errcode !== undefined ? { wechatErrcode: errcode } : {}), field },
    errcode,
  );
}

/** A mini program's phone-number code (the getPhoneNumber button) → the person's number. */
export class PhoneNumberClient {
  constructor(
    private readonly http: WeChatHttp,
    private readonly appTokens: AppAccessTokens,
    private readonly logger: Logger,
  ) {}

  /**
   * The number, international (E.164: `+8613800138000`). Single use: never sent again once it may
   * have reached WeChat, except after WeChat refused our app token (it did not look at the code).
   * `field` names the input that carried the code, for the client's error. `openId`, when known,
   * is the person's openid in this mini program: WeChat then refuses a code that is not theirs.
   * https://developers.weixin.qq.com/miniprogram/dev/server/API/user-info/phone-number/api_getphonenumber
   */
  async phoneNumber(
    em: EntityManager,
    app: PlatformCredentials,
    code: string,
    field: string,
    openId?: string,
  ): Promise<string> {
    let body;
    try {
      body = await this.appTokens.withToken(em, app, (accessToken) =>
        this.http.post(
          ENDPOINTS.phoneNumber,
          { access_token: accessToken },
          openId === undefined ? { code } : { code, openid: openId },
          PhoneNumberResponse,
          'single-use',
        ),
      );
    } catch (error) {
      const otherPerson = error instanceof WeChatError && error.errcode === OTHER_PERSON_ERRCODE;
      if (error instanceof WeChatError && (error.code === 'WECHAT_INVALID_CODE' || otherPerson)) {
        throw phoneCodeRefused(error.errcode, field);
      }
      throw error;
    }
    const info = body.phone_info;
    if (info.watermark.appid !== app.appId) {
      this.logger.warn(
        { expected: app.appId, watermark: info.watermark.appid },
        'getuserphonenumber answered with another app’s watermark: number not used',
      );
      throw new WeChatError('WECHAT_CONFIG_ERROR', 'WeChat answered the phone-number code for another app');
    }
    return `+${info.countryCode}${info.purePhoneNumber}`;
  }
}
