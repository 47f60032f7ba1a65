/** WeChat endpoints we call, relative to WECHAT_API_BASE_URL (docs/wechat.md, "Endpoints"). */
export const ENDPOINTS = {
  /** https://developers.weixin.qq.com/doc/oplatform/Website_App/WeChat_Login/Authorized_Interface_Calling_UnionID.html */
  oauthAccessToken: 'sns/oauth2/access_token',
  /** https://developers.weixin.qq.com/doc/service/api/webdev/access/api_snsuserinfo */
  userInfo: 'sns/userinfo',
  /** https://developers.weixin.qq.com/miniprogram/dev/server/API/user-login/api_code2session */
  jscode2session: 'sns/jscode2session',
  /** https://developers.weixin.qq.com/doc/service/api/base/api_getstableaccesstoken */
  stableToken: 'cgi-bin/stable_token',
  /** https://developers.weixin.qq.com/miniprogram/dev/server/API/user-info/phone-number/api_getphonenumber */
  phoneNumber: 'wxa/business/getuserphonenumber',
  /** https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/qrcode-link/qr-code/getUnlimitedQRCode.html */
  miniProgramCode: 'wxa/getwxacodeunlimit',
  /** https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/qrcode-link/url-link/generateUrlLink.html */
  urlLink: 'wxa/generate_urllink',
  /** https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/JS-SDK.html#62 */
  jsapiTicket: 'cgi-bin/ticket/getticket',
  /** https://developers.weixin.qq.com/doc/offiaccount/Account_Management/Generating_a_Parametric_QR_Code.html */
  parametricQr: 'cgi-bin/qrcode/create',
  /** https://developers.weixin.qq.com/doc/offiaccount/User_Management/Get_users_basic_information_UnionID.html */
  followerInfo: 'cgi-bin/user/info',
} as const;

/** Path of the website QR login page, on WECHAT_OPEN_BASE_URL. */
export const QRCONNECT_PATH = '/connect/qrconnect';

/**
 * Path of an official account's web authorization (pages inside WeChat), on WECHAT_OPEN_BASE_URL.
 * https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/Wechat_webpage_authorization.html
 */
export const OA_AUTHORIZE_PATH = '/connect/oauth2/authorize';

/** WeChat's anonymised profile, given since 2021 instead of a real one: never stored over a real one. */
export const ANONYMOUS_NICKNAME = '微信用户';
