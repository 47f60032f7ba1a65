import type { FastifyPluginCallback } from 'fastify';
import type { EmulatorCore } from './core.js';
import { isError, opaqueToken, wechatError, type WeChatBody } from './wechat-errors.js';
import { wechatQuery, type Query, type WeChatResponder } from './wechat-route.js';

const APP_TOKEN_TTL_S = 7200;
/** /cgi-bin/token keeps the previous token valid this long after a new one is fetched. */
const APP_TOKEN_OVERLAP_MS = 5 * 60_000;
/** stable_token ignores a force_refresh that comes sooner than this after the last one. */
const STABLE_FORCE_SPACING_MS = 30_000;

const ALL_KINDS = ['web', 'app', 'mini', 'official'] as const;

interface AppToken {
  appid: string;
  expiresAt: number;
}

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

/**
 * WeChat's app access tokens (`/cgi-bin/token`, `/cgi-bin/stable_token`) and what needs one here:
 * phone numbers (`/wxa/business/getuserphonenumber`) and `/wxa/checksession`.
 */
export class AppTokenApi {
  private readonly tokens = new Map<string, AppToken>();
  private readonly latest = new Map<string, string>();
  private readonly stable = new Map<string, { token: string; expiresAt: number; lastForceAt: number }>();

  constructor(private readonly core: EmulatorCore) {}

  /** A valid app access token's entry, or WeChat's error for it (41001, 40001, 42001). */
  check(accessToken: string | undefined): AppToken | WeChatBody {
    if (!accessToken) return wechatError(41001);
    const entry = this.tokens.get(accessToken);
    if (!entry) return wechatError(40001);
    if (this.core.now() >= entry.expiresAt) return wechatError(42001);
    return entry;
  }

  /** GET /cgi-bin/token: each call rotates; the previous token stays valid 5 minutes. */
  token(q: Query): WeChatBody {
    if (q.grant_type !== 'client_credential') return wechatError(40002);
    const app = this.core.checkApp(q.appid, q.secret, ALL_KINDS);
    if (isError(app)) return app;
    const now = this.core.now();
    const previous = this.latest.get(app.appid);
    const entry = previous ? this.tokens.get(previous) : undefined;
    if (entry) entry.expiresAt = Math.min(entry.expiresAt, now + APP_TOKEN_OVERLAP_MS);
    const accessToken = opaqueToken(96);
    this.tokens.set(accessToken, { appid: app.appid, expiresAt: now + APP_TOKEN_TTL_S * 1000 });
    this.latest.set(app.appid, accessToken);
    return { access_token: accessToken, expires_in: APP_TOKEN_TTL_S };
  }

  /** POST /cgi-bin/stable_token: the same token until force_refresh (at most every 30 s). */
  stableToken(body: Record<string, unknown>): WeChatBody {
    if (body.grant_type !== 'client_credential') return wechatError(40002);
    const app = this.core.checkApp(str(body.appid), str(body.secret), ALL_KINDS);
    if (isError(app)) return app;
    const now = this.core.now();
    let entry = this.stable.get(app.appid);
    const force =
      body.force_refresh === true && (!entry || now - entry.lastForceAt >= STABLE_FORCE_SPACING_MS);
    if (!entry || force || now >= entry.expiresAt) {
      // The previous stable token stops working when it is replaced.
      if (entry) this.tokens.delete(entry.token);
      const fresh = opaqueToken(96);
      entry = {
        token: fresh,
        expiresAt: now + APP_TOKEN_TTL_S * 1000,
        lastForceAt: force ? now : (entry?.lastForceAt ?? -Infinity),
      };
      this.stable.set(app.appid, entry);
      this.tokens.set(fresh, { appid: app.appid, expiresAt: entry.expiresAt });
    }
    return { access_token: entry.token, expires_in: Math.max(1, Math.floor((entry.expiresAt - now) / 1000)) };
  }

  /** A getPhoneNumber code of a mini program user (the control API). */
  phoneCode(appid: string, userKey: string, phoneNumber?: string): string {
    this.core.appOf(appid, 'mini');
    this.core.people.upsert(userKey, phoneNumber ? { phoneNumber } : {});
    return this.core.codes.mint({ kind: 'phone', appid, userKey, scope: '' }, 32);
  }

  /** POST /wxa/business/getuserphonenumber */
  phoneNumber(q: Query, body: Record<string, unknown>): WeChatBody {
    const appToken = this.check(q.access_token);
    if (isError(appToken)) return appToken;
    if (typeof body.code !== 'string' || !body.code) return wechatError(47001);
    const code = this.core.codes.take(body.code, appToken.appid, 'phone', 40029, 40029);
    if (isError(code)) return code;
    if (
      typeof body.openid === 'string' &&
      body.openid !== this.core.people.openid(code.appid, code.userKey)
    ) {
      return wechatError(40003);
    }
    const user = this.core.people.upsert(code.userKey);
    return {
      errcode: 0,
      errmsg: 'ok',
      phone_info: {
        phoneNumber: user.phoneNumber,
        purePhoneNumber: user.phoneNumber,
        countryCode: '86',
        watermark: { timestamp: Math.floor(this.core.now() / 1000), appid: code.appid },
      },
    };
  }

  /** Every app token handed out, for tests that scan logs for secrets. */
  issuedSecrets(): string[] {
    return [...this.tokens.keys()];
  }

  reset(): void {
    this.tokens.clear();
    this.latest.clear();
    this.stable.clear();
  }
}

/** The app-token and phone-number routes of api.weixin.qq.com. */
export function appTokenRoutes(api: AppTokenApi, respond: WeChatResponder): FastifyPluginCallback {
  return (app, _options, done) => {
    const body = (request: { body?: unknown }) => (request.body ?? {}) as Record<string, unknown>;
    app.get(
      '/cgi-bin/token',
      { schema: { querystring: wechatQuery('grant_type', 'appid', 'secret') } },
      (req, rep) => respond(req, rep, () => api.token(req.query as Query)),
    );
    // WeChat reads POST bodies itself (a body that is not JSON is its 47001): no body schema.
    app.post('/cgi-bin/stable_token', (req, rep) => respond(req, rep, () => api.stableToken(body(req))));
    app.post(
      '/wxa/business/getuserphonenumber',
      { schema: { querystring: wechatQuery('access_token') } },
      (req, rep) => respond(req, rep, () => api.phoneNumber(req.query as Query, body(req))),
    );
    done();
  };
}
