import { randomBytes } from 'node:crypto';
import type { FastifyPluginCallback } from 'fastify';
import { z } from 'zod';
import type { AppTokenApi } from './app-tokens.api.js';
import { UserKey, type EmulatorCore } from './core.js';
import { isError, wechatError, type WeChatBody } from './wechat-errors.js';
import { wechatQuery, type Query, type WeChatResponder } from './wechat-route.js';

/** A parametric QR code's life: WeChat's default (60 s) and its longest (30 days). */
const DEFAULT_QR_SECONDS = 60;
const MAX_QR_SECONDS = 30 * 24 * 3600;
/** A string scene: 1-64 characters. */
const SCENE_STR = /^.{1,64}$/su;
/** The jsapi_ticket's life, as WeChat gives it. */
const JSAPI_TICKET_SECONDS = 7200;
/** Where a parametric QR code's `url` points on the emulator (its ticket follows). */
export const OA_QR_PATH = '/__emulator/oa-qr/';

/** An official account's app access token, as AppTokenApi.check answers it. */
interface OfficialToken {
  appid: string;
}

/** A parametric QR code the emulator made. */
export interface OfficialQr {
  ticket: string;
  appid: string;
  scene: string;
  /** Epoch ms; null: permanent (QR_LIMIT_STR_SCENE). */
  expiresAt: number | null;
}

/**
 * An Official Account's server-side APIs that login by follow needs: parametric QR codes
 * (`cgi-bin/qrcode/create`), a follower's info (`cgi-bin/user/info`, its `unionid` for a bound
 * account) and the JS-SDK's `jsapi_ticket` (`cgi-bin/ticket/getticket`), each with the account's
 * app access token. Who follows which account is kept here (`follow`), as WeChat keeps it.
 * https://developers.weixin.qq.com/doc/offiaccount/Account_Management/Generating_a_Parametric_QR_Code.html
 * https://developers.weixin.qq.com/doc/offiaccount/User_Management/Get_users_basic_information_UnionID.html
 * https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/JS-SDK.html
 */
export class OfficialAccountApi {
  private readonly qrs = new Map<string, OfficialQr>();
  /** `${appid}\n${userKey}` → when the person followed (epoch seconds) and through which scene. */
  private readonly followers = new Map<string, { since: number; scene: string | null }>();
  private readonly jsapiTickets = new Map<string, { ticket: string; expiresAt: number }>();
  private baseUrl = '';

  constructor(
    private readonly core: EmulatorCore,
    private readonly appTokens: AppTokenApi,
  ) {}

  /** The emulator's own URL, known once it listens: what a QR code's `url` points at. */
  serveFrom(baseUrl: string): void {
    this.baseUrl = baseUrl;
  }

  /** The official account an app access token belongs to, or WeChat's error. */
  private officialOf(accessToken: string | undefined): OfficialToken | WeChatBody {
    const token = this.appTokens.check(accessToken);
    if (isError(token)) return token;
    if (this.core.appOf(token.appid).kind !== 'official') return wechatError(48001);
    return token;
  }

  /** POST /cgi-bin/qrcode/create: a temporary (QR_STR_SCENE) or permanent (QR_LIMIT_STR_SCENE) code. */
  createQr(q: Query, body: Record<string, unknown>): WeChatBody {
    const app = this.officialOf(q.access_token);
    if (isError(app)) return app;
    const action = body.action_name;
    if (action !== 'QR_STR_SCENE' && action !== 'QR_LIMIT_STR_SCENE') return wechatError(40097);
    const scene = (body.action_info as { scene?: { scene_str?: unknown } } | undefined)?.scene?.scene_str;
    if (typeof scene !== 'string' || !SCENE_STR.test(scene)) return wechatError(40097);
    const seconds = body.expire_seconds ?? DEFAULT_QR_SECONDS;
    if (
      action === 'QR_STR_SCENE' &&
      (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < 1)
    ) {
      return wechatError(40097);
    }
    const lifetime = Math.min(Number(seconds), MAX_QR_SECONDS);
    const ticket = randomBytes(24).toString('base64');
    const expiresAt = action === 'QR_STR_SCENE' ? this.core.now() + lifetime * 1000 : null;
    this.qrs.set(ticket, { ticket, appid: app.appid, scene, expiresAt });
    return {
      ticket,
      ...(expiresAt === null ? {} : { expire_seconds: lifetime }),
      url: `${this.baseUrl}${OA_QR_PATH}${encodeURIComponent(ticket)}`,
    };
  }

  /** The person follows the account (a scan of a code with a scene, or not); a second follow keeps the first. */
  follow(appid: string, userKey: string, scene: string | null = null): void {
    this.core.appOf(appid, 'official');
    this.core.people.upsert(userKey);
    const key = `${appid}\n${userKey}`;
    if (!this.followers.has(key))
      this.followers.set(key, { since: Math.floor(this.core.now() / 1000), scene });
  }

  unfollow(appid: string, userKey: string): void {
    this.core.appOf(appid, 'official');
    this.followers.delete(`${appid}\n${userKey}`);
  }

  /** GET /cgi-bin/user/info: a follower's info; `subscribe: 0` and nothing else for a person who does not follow. */
  userInfo(q: Query): WeChatBody {
    const app = this.officialOf(q.access_token);
    if (isError(app)) return app;
    if (!q.openid) return wechatError(41009);
    const user = this.core.people.byOpenid(app.appid, q.openid);
    if (!user) return wechatError(40003);
    const follower = this.followers.get(`${app.appid}\n${user.key}`);
    if (!follower) return { subscribe: 0, openid: q.openid };
    const bound = this.core.appOf(app.appid).bound;
    // Since 2021-12-27 WeChat no longer answers nickname and avatar here.
    return {
      subscribe: 1,
      openid: q.openid,
      language: 'zh_CN',
      subscribe_time: follower.since,
      ...(bound ? { unionid: user.unionid } : {}),
      remark: '',
      groupid: 0,
      tagid_list: [],
      subscribe_scene: follower.scene === null ? 'ADD_SCENE_SEARCH' : 'ADD_SCENE_QR_CODE',
      qr_scene: 0,
      qr_scene_str: follower.scene ?? '',
    };
  }

  /** GET /cgi-bin/ticket/getticket?type=jsapi: the same ticket until it expires, as WeChat does. */
  jsapiTicket(q: Query): WeChatBody {
    const app = this.officialOf(q.access_token);
    if (isError(app)) return app;
    if (q.type !== 'jsapi') return wechatError(40097);
    const now = this.core.now();
    let held = this.jsapiTickets.get(app.appid);
    if (!held || held.expiresAt <= now) {
      held = { ticket: randomBytes(48).toString('base64url'), expiresAt: now + JSAPI_TICKET_SECONDS * 1000 };
      this.jsapiTickets.set(app.appid, held);
    }
    return {
      errcode: 0,
      errmsg: 'ok',
      ticket: held.ticket,
      expires_in: Math.round((held.expiresAt - now) / 1000),
    };
  }

  /** Every jsapi_ticket handed out, for tests that scan logs for secrets. */
  issuedSecrets(): string[] {
    return [...this.jsapiTickets.values()].map((t) => t.ticket);
  }

  reset(): void {
    this.qrs.clear();
    this.followers.clear();
    this.jsapiTickets.clear();
  }
}

/** The official account routes of api.weixin.qq.com. */
export function officialAccountRoutes(
  api: OfficialAccountApi,
  respond: WeChatResponder,
): FastifyPluginCallback {
  return (app, _options, done) => {
    app.post('/cgi-bin/qrcode/create', { schema: { querystring: wechatQuery('access_token') } }, (req, rep) =>
      respond(req, rep, () => api.createQr(req.query as Query, (req.body ?? {}) as Record<string, unknown>)),
    );
    app.get(
      '/cgi-bin/user/info',
      { schema: { querystring: wechatQuery('access_token', 'openid', 'lang') } },
      (req, rep) => respond(req, rep, () => api.userInfo(req.query as Query)),
    );
    app.get(
      '/cgi-bin/ticket/getticket',
      { schema: { querystring: wechatQuery('access_token', 'type') } },
      (req, rep) => respond(req, rep, () => api.jsapiTicket(req.query as Query)),
    );
    done();
  };
}

const Follow = z.object({ appid: z.string(), user: UserKey, following: z.boolean().default(true) });

/**
 * `POST /__emulator/follows { appid, user, following? }`: the person follows (or stops following)
 * the official account, as if done in WeChat, with no event pushed (a person who followed long
 * ago). 400 for an appid that is not an official account.
 */
export function officialAccountControlRoutes(api: OfficialAccountApi): FastifyPluginCallback {
  return (app, _options, done) => {
    app.post('/__emulator/follows', { schema: { body: Follow } }, async (request, reply) => {
      const { appid, user, following } = request.body as z.output<typeof Follow>;
      try {
        if (following) api.follow(appid, user);
        else api.unfollow(appid, user);
      } catch (error) {
        return reply.code(400).send({ error: (error as Error).message });
      }
      return { appid, user, following };
    });
    done();
  };
}
