import type { FastifyPluginCallback } from 'fastify';
import type { EmulatorCore } from './core.js';
import { isError, opaqueToken, wechatError, type WeChatBody } from './wechat-errors.js';
import { wechatQuery, type Query, type WeChatResponder } from './wechat-route.js';

const SNS_TOKEN_TTL_S = 7200;
const SNS_REFRESH_TTL_MS = 30 * 24 * 3600 * 1000;

interface SnsToken {
  appid: string;
  userKey: string;
  scope: string;
  /** Of a snapshot-mode login: the person's virtual account. */
  snapshot: boolean;
  expiresAt: number;
}

interface SnsRefreshToken extends SnsToken {
  accessToken: string;
}

/**
 * WeChat's user OAuth (website, mobile app, official account): a confirmed login's code → an
 * access token for that person → their profile. `/sns/oauth2/*`, `/sns/auth`, `/sns/userinfo`.
 */
export class OAuthApi {
  private readonly tokens = new Map<string, SnsToken>();
  private readonly refreshTokens = new Map<string, SnsRefreshToken>();

  constructor(private readonly core: EmulatorCore) {}

  /**
   * The code of a login a person confirmed in an OAuth app (the QR page, the SDK, the consent page).
   * `snapshot`: an official account's page opened in snapshot mode, whose code is of a virtual
   * account (throws for other apps).
   */
  authorize(appid: string, userKey: string, scope?: string, snapshot = false): string {
    const app = this.core.appOf(appid);
    if (snapshot && app.kind !== 'official') {
      throw new Error(`snapshot mode is for official accounts: "${appid}" is not one`);
    }
    this.core.people.upsert(userKey);
    const defaultScope = app.kind === 'web' ? 'snsapi_login' : 'snsapi_userinfo';
    return this.core.codes.mint({
      kind: 'oauth',
      appid,
      userKey,
      scope: scope ?? defaultScope,
      ...(snapshot ? { snapshot } : {}),
    });
  }

  /** GET /sns/oauth2/access_token */
  accessToken(q: Query): WeChatBody {
    const app = this.core.checkApp(q.appid, q.secret, ['web', 'app', 'official']);
    if (isError(app)) return app;
    if (!q.code) return wechatError(41008);
    if (q.grant_type !== 'authorization_code') return wechatError(40002);
    const code = this.core.codes.take(q.code, app.appid, 'oauth', 40163, 42003);
    if (isError(code)) return code;
    const snapshot = code.snapshot === true;
    const accessToken = this.issue(app.appid, code.userKey, code.scope, snapshot);
    const refreshToken = opaqueToken();
    this.refreshTokens.set(refreshToken, {
      appid: app.appid,
      userKey: code.userKey,
      scope: code.scope,
      snapshot,
      accessToken,
      expiresAt: this.core.now() + SNS_REFRESH_TTL_MS,
    });
    // Official accounts give the unionid only with snsapi_userinfo; Open Platform apps always do when bound.
    const unionid = app.bound && (app.kind !== 'official' || code.scope.includes('snsapi_userinfo'));
    const people = this.core.people;
    return {
      access_token: accessToken,
      expires_in: SNS_TOKEN_TTL_S,
      refresh_token: refreshToken,
      openid: this.openidOf({ appid: app.appid, userKey: code.userKey, snapshot }),
      scope: code.scope,
      // Only for a snapshot-mode virtual account, whose unionid (when any) is virtual too.
      ...(snapshot ? { is_snapshotuser: 1 } : {}),
      ...(unionid
        ? { unionid: snapshot ? people.snapshotUnionid(code.userKey) : people.unionidOf(code.userKey) }
        : {}),
    };
  }

  /** GET /sns/oauth2/refresh_token: a new access token if expired, else the same one renewed. */
  refresh(q: Query): WeChatBody {
    if (!q.appid) return wechatError(41002);
    if (!this.core.apps.has(q.appid)) return wechatError(40013);
    if (q.grant_type !== 'refresh_token') return wechatError(40002);
    if (!q.refresh_token) return wechatError(41003);
    const entry = this.refreshTokens.get(q.refresh_token);
    const now = this.core.now();
    if (!entry || entry.appid !== q.appid) return wechatError(40030);
    if (now >= entry.expiresAt) return wechatError(42002);
    const current = this.tokens.get(entry.accessToken);
    if (current && now < current.expiresAt) {
      current.expiresAt = now + SNS_TOKEN_TTL_S * 1000;
    } else {
      this.tokens.delete(entry.accessToken);
      entry.accessToken = this.issue(entry.appid, entry.userKey, entry.scope, entry.snapshot);
    }
    return {
      access_token: entry.accessToken,
      expires_in: SNS_TOKEN_TTL_S,
      refresh_token: q.refresh_token,
      openid: this.openidOf(entry),
      scope: entry.scope,
    };
  }

  /** GET /sns/auth */
  auth(q: Query): WeChatBody {
    const entry = this.token(q.access_token, q.openid);
    if (isError(entry)) return entry;
    return { errcode: 0, errmsg: 'ok' };
  }

  /** GET /sns/userinfo: needs snsapi_userinfo or snsapi_login, and not a snapshot-mode account; else 48001. */
  userinfo(q: Query): WeChatBody {
    const entry = this.token(q.access_token, q.openid);
    if (isError(entry)) return entry;
    if (entry.snapshot || !/snsapi_(userinfo|login)/.test(entry.scope)) return wechatError(48001);
    const user = this.core.people.upsert(entry.userKey);
    const app = this.core.apps.get(entry.appid)!;
    return {
      openid: this.openidOf(entry),
      nickname: user.nickname,
      sex: 0,
      province: '',
      city: '',
      country: '',
      headimgurl: user.avatarUrl,
      privilege: [],
      ...(app.bound ? { unionid: user.unionid } : {}),
    };
  }

  /** Every OAuth token handed out, for tests that scan logs for secrets. */
  issuedSecrets(): string[] {
    return [...this.tokens.keys(), ...this.refreshTokens.keys()];
  }

  reset(): void {
    this.tokens.clear();
    this.refreshTokens.clear();
  }

  private issue(appid: string, userKey: string, scope: string, snapshot: boolean): string {
    const accessToken = opaqueToken();
    this.tokens.set(accessToken, {
      appid,
      userKey,
      scope,
      snapshot,
      expiresAt: this.core.now() + SNS_TOKEN_TTL_S * 1000,
    });
    return accessToken;
  }

  /** The openid a token stands for: the person's, or their virtual account's in snapshot mode. */
  private openidOf(entry: Pick<SnsToken, 'appid' | 'userKey' | 'snapshot'>): string {
    return entry.snapshot
      ? this.core.people.snapshotOpenid(entry.appid, entry.userKey)
      : this.core.people.openid(entry.appid, entry.userKey);
  }

  private token(accessToken: string | undefined, openid: string | undefined) {
    if (!accessToken) return wechatError(41001);
    if (!openid) return wechatError(41009);
    const entry = this.tokens.get(accessToken);
    if (!entry) return wechatError(40014);
    if (this.core.now() >= entry.expiresAt) return wechatError(42001);
    if (this.openidOf(entry) !== openid) return wechatError(40003);
    return entry;
  }
}

/** The OAuth routes of api.weixin.qq.com. */
export function oauthRoutes(api: OAuthApi, respond: WeChatResponder): FastifyPluginCallback {
  return (app, _options, done) => {
    const token = wechatQuery('appid', 'secret', 'code', 'grant_type');
    const refresh = wechatQuery('appid', 'grant_type', 'refresh_token');
    const user = wechatQuery('access_token', 'openid', 'lang');
    app.get('/sns/oauth2/access_token', { schema: { querystring: token } }, (req, rep) =>
      respond(req, rep, () => api.accessToken(req.query as Query)),
    );
    app.get('/sns/oauth2/refresh_token', { schema: { querystring: refresh } }, (req, rep) =>
      respond(req, rep, () => api.refresh(req.query as Query)),
    );
    app.get('/sns/auth', { schema: { querystring: user } }, (req, rep) =>
      respond(req, rep, () => api.auth(req.query as Query)),
    );
    app.get('/sns/userinfo', { schema: { querystring: user } }, (req, rep) =>
      respond(req, rep, () => api.userinfo(req.query as Query)),
    );
    done();
  };
}
