import type { FastifyPluginCallback } from 'fastify';
import type { EmulatorCore } from './core.js';
import { isError, opaqueToken, wechatError, type WeChatBody } from './wechat-errors.js';
import { wechatQuery, type Query, type WeChatResponder } from './wechat-route.js';

const APP_TOKEN_TTL_S = 7200;
/**
 * /cgi-bin/token keeps the previous token valid this long after a new one is fetched; stable_token
 * makes its next token this long before the current one expires, both valid meanwhile.
 */
const APP_TOKEN_OVERLAP_MS = 5 * 60_000;
/** stable_token ignores a force_refresh that comes sooner than this after the last one. */
const STABLE_FORCE_SPACING_MS = 30_000;

const ALL_KINDS = ['web', 'app', 'mini', 'official'] as const;

interface AppToken {
  appid: string;
  expiresAt: number;
}

/** stable_token's calls per app, for tests that count fetches and force refreshes. */
export interface StableTokenCounts {
  appid: string;
  /** Every POST /cgi-bin/stable_token of the app that WeChat answered with a token. */
  calls: number;
  /** Those with `force_refresh: true` (whether or not the 30 s spacing let them rotate the token). */
  forceRefreshCalls: number;
}

/** How WeChat is to answer a phone code (the control API): as it does for most, unless a test says. */
export interface PhoneCodeOptions {
  /** `countryCode` as WeChat sends it: `"86"` (a string, the default) or a number. */
  countryCode?: string | number;
  /** The watermark's appid when it is to name another app than the code's. */
  watermarkAppid?: string;
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
  private readonly counts = new Map<string, StableTokenCounts>();
  private readonly phoneCodeOptions = new Map<string, PhoneCodeOptions>();
  /** Every token ever handed out, kept through replacement and reset, for log scans. */
  private readonly issued: string[] = [];

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
    const accessToken = this.mint(app.appid, now + APP_TOKEN_TTL_S * 1000);
    this.latest.set(app.appid, accessToken);
    return { access_token: accessToken, expires_in: APP_TOKEN_TTL_S };
  }

  /**
   * POST /cgi-bin/stable_token: the same token until force_refresh (at most every 30 s), which
   * ends the previous one at once. Without force, WeChat makes the next token 5 minutes before
   * the current one expires (both valid meanwhile), so `expires_in` is never below 300.
   */
  stableToken(body: Record<string, unknown>): WeChatBody {
    if (body.grant_type !== 'client_credential') return wechatError(40002);
    const app = this.core.checkApp(str(body.appid), str(body.secret), ALL_KINDS);
    if (isError(app)) return app;
    const counts = this.countsOf(app.appid);
    counts.calls += 1;
    if (body.force_refresh === true) counts.forceRefreshCalls += 1;
    const now = this.core.now();
    let entry = this.stable.get(app.appid);
    const force =
      body.force_refresh === true && (!entry || now - entry.lastForceAt >= STABLE_FORCE_SPACING_MS);
    if (!entry || force || now >= entry.expiresAt - APP_TOKEN_OVERLAP_MS) {
      // A forced refresh ends the previous token now; a normal one leaves it its last minutes.
      if (entry && force) this.tokens.delete(entry.token);
      const expiresAt = now + APP_TOKEN_TTL_S * 1000;
      entry = {
        token: this.mint(app.appid, expiresAt),
        expiresAt,
        lastForceAt: force ? now : (entry?.lastForceAt ?? -Infinity),
      };
      this.stable.set(app.appid, entry);
    }
    return { access_token: entry.token, expires_in: Math.floor((entry.expiresAt - now) / 1000) };
  }

  /**
   * Every access token of the app stops working at once (40001), as when WeChat revokes them or
   * another holder of the AppSecret force-refreshes; the next stable_token call gets a new one.
   * Returns how many tokens it ended.
   */
  invalidate(appid: string): number {
    this.core.appOf(appid);
    let ended = 0;
    for (const [token, entry] of this.tokens) {
      if (entry.appid !== appid) continue;
      this.tokens.delete(token);
      ended += 1;
    }
    const stable = this.stable.get(appid);
    if (stable) stable.expiresAt = this.core.now();
    this.latest.delete(appid);
    return ended;
  }

  /** stable_token's calls per app since the start. */
  stableTokenCounts(): StableTokenCounts[] {
    return [...this.counts.values()].map((c) => ({ ...c }));
  }

  /** A getPhoneNumber code of a mini program user (the control API). */
  phoneCode(appid: string, userKey: string, phoneNumber?: string, options: PhoneCodeOptions = {}): string {
    this.core.appOf(appid, 'mini');
    this.core.people.upsert(userKey, phoneNumber ? { phoneNumber } : {});
    const code = this.core.codes.mint({ kind: 'phone', appid, userKey, scope: '' }, 32);
    if (options.countryCode !== undefined || options.watermarkAppid !== undefined) {
      this.phoneCodeOptions.set(code, options);
    }
    return code;
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
    const options = this.phoneCodeOptions.get(body.code) ?? {};
    const countryCode = options.countryCode ?? '86';
    return {
      errcode: 0,
      errmsg: 'ok',
      phone_info: {
        // With the country code for numbers outside mainland China, as WeChat gives it.
        phoneNumber: String(countryCode) === '86' ? user.phoneNumber : `+${countryCode}${user.phoneNumber}`,
        purePhoneNumber: user.phoneNumber,
        countryCode,
        watermark: {
          timestamp: Math.floor(this.core.now() / 1000),
          appid: options.watermarkAppid ?? code.appid,
        },
      },
    };
  }

  /** Every app token handed out since the start (replaced ones too), for tests that scan logs for secrets. */
  issuedSecrets(): string[] {
    return [...this.issued];
  }

  reset(): void {
    this.tokens.clear();
    this.latest.clear();
    this.stable.clear();
    this.phoneCodeOptions.clear();
  }

  private mint(appid: string, expiresAt: number): string {
    const token = opaqueToken(96);
    this.tokens.set(token, { appid, expiresAt });
    this.issued.push(token);
    return token;
  }

  private countsOf(appid: string): StableTokenCounts {
    let counts = this.counts.get(appid);
    if (!counts) this.counts.set(appid, (counts = { appid, calls: 0, forceRefreshCalls: 0 }));
    return counts;
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
