import { randomBytes } from 'node:crypto';
import type { FastifyPluginCallback } from 'fastify';
import { encryptUserData, rawDataSignature, sessionKeySignature } from '../wechat/open-data.crypto.js';
import type { AppTokenApi } from './app-tokens.api.js';
import { ANONYMOUS_NICKNAME, type EmulatorCore } from './core.js';
import { isError, wechatError, type WeChatBody } from './wechat-errors.js';
import { wechatQuery, type Query, type WeChatResponder } from './wechat-route.js';

/**
 * WeChat's mini program login: `wx.login` makes a code and a fresh session key; jscode2session
 * trades the code for openid, unionid and that key; open data is encrypted and signed with it;
 * `/wxa/checksession` checks a signature made with the latest key.
 */
export class MiniProgramApi {
  /** Session key per `${appid}\n${userKey}`: one valid key per person and mini program. */
  private readonly sessionKeys = new Map<string, string>();

  constructor(
    private readonly core: EmulatorCore,
    private readonly appTokens: AppTokenApi,
  ) {}

  /** What `wx.login` does: a new session key for this person in this mini program, and a code for it. */
  login(appid: string, userKey: string): string {
    this.core.appOf(appid, 'mini');
    this.core.people.upsert(userKey);
    const sessionKey = randomBytes(16).toString('base64');
    this.sessionKeys.set(`${appid}\n${userKey}`, sessionKey);
    return this.core.codes.mint({ kind: 'js', sessionKey, appid, userKey, scope: '' });
  }

  /** GET /sns/jscode2session: the session key of that wx.login; a used code is 40163, an expired one 40029. */
  jscode2session(q: Query): WeChatBody {
    const app = this.core.checkApp(q.appid, q.secret, ['mini']);
    if (isError(app)) return app;
    if (!q.js_code) return wechatError(41008);
    if (q.grant_type !== 'authorization_code') return wechatError(40002);
    const code = this.core.codes.take(q.js_code, app.appid, 'js', 40163, 40029);
    if (isError(code)) return code;
    return {
      session_key: code.sessionKey!,
      openid: this.core.people.openid(app.appid, code.userKey),
      ...(app.bound ? { unionid: this.core.people.unionidOf(code.userKey) } : {}),
    };
  }

  /** GET /wxa/checksession: signature = hex(HMAC-SHA256(session_key, "")). */
  checkSession(q: Query): WeChatBody {
    const appToken = this.appTokens.check(q.access_token);
    if (isError(appToken)) return appToken;
    if (!q.openid) return wechatError(41009);
    if (q.sig_method !== 'hmac_sha256' || !q.signature) return wechatError(87009);
    const user = this.core.people.byOpenid(appToken.appid, q.openid);
    if (!user) return wechatError(40003);
    const sessionKey = this.sessionKeys.get(`${appToken.appid}\n${user.key}`);
    if (!sessionKey || sessionKeySignature(sessionKey) !== q.signature) return wechatError(87009);
    return { errcode: 0, errmsg: 'ok' };
  }

  /**
   * encryptedData, iv, rawData and signature as wx.getUserProfile gives them, made with the session
   * key of this person's latest wx.login in this mini program. Anonymous, as WeChat's are since
   * 2022 ("微信用户" and a grey avatar), unless `real`: the person's nickname and avatar, as before.
   */
  encryptedData(appid: string, userKey: string, { real = false }: { real?: boolean } = {}) {
    const app = this.core.appOf(appid, 'mini');
    const sessionKey = this.sessionKeys.get(`${appid}\n${userKey}`);
    if (!sessionKey)
      throw new Error(`"${userKey}" has no session key in ${appid}: mint a code first (wx.login)`);
    const user = this.core.people.upsert(userKey);
    const profile = {
      nickName: real ? user.nickname : ANONYMOUS_NICKNAME,
      gender: 0,
      language: 'zh_CN',
      city: '',
      province: '',
      country: '',
      avatarUrl: real ? user.avatarUrl : this.core.people.defaultAvatarUrl(),
    };
    const data = {
      openId: this.core.people.openid(appid, userKey),
      ...profile,
      ...(app.bound ? { unionId: user.unionid } : {}),
      watermark: { appid, timestamp: Math.floor(this.core.now() / 1000) },
    };
    const iv = randomBytes(16);
    const rawData = JSON.stringify(profile);
    return {
      encryptedData: encryptUserData(sessionKey, data, iv),
      iv: iv.toString('base64'),
      rawData,
      signature: rawDataSignature(rawData, sessionKey),
    };
  }

  /** The session key last given to this person in this mini program (in-process tests only). */
  sessionKeyOf(appid: string, userKey: string): string | undefined {
    return this.sessionKeys.get(`${appid}\n${userKey}`);
  }

  /** Every session key handed out, for tests that scan logs for secrets. */
  issuedSecrets(): string[] {
    return [...this.sessionKeys.values()];
  }

  reset(): void {
    this.sessionKeys.clear();
  }
}

/** The mini program routes of api.weixin.qq.com. */
export function miniProgramRoutes(api: MiniProgramApi, respond: WeChatResponder): FastifyPluginCallback {
  return (app, _options, done) => {
    const session = wechatQuery('appid', 'secret', 'js_code', 'grant_type');
    const check = wechatQuery('access_token', 'openid', 'signature', 'sig_method');
    app.get('/sns/jscode2session', { schema: { querystring: session } }, (req, rep) =>
      respond(req, rep, () => api.jscode2session(req.query as Query)),
    );
    app.get('/wxa/checksession', { schema: { querystring: check } }, (req, rep) =>
      respond(req, rep, () => api.checkSession(req.query as Query)),
    );
    done();
  };
}
