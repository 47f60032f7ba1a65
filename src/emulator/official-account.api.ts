import { randomBytes } from 'node:crypto';
import type { FastifyPluginCallback } from 'fastify';
import { z } from 'zod';
import type { AppTokenApi } from './app-tokens.api.js';
import { UserKey, type EmulatorCore } from './core.js';
import { originalIdOf, type EventPusher, type PushEvent, type PushResult } from './event-push.js';
import { rememberedUser } from './pages.js';
import { gonePage, OA_QR_SCRIPT, OA_QR_SCRIPT_PATH, oaQrPage } from './phone.html.js';
import { sendPhonePage, sendPhoneScript } from './phone.js';
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
  /** Epoch ms. */
  issuedAt: number;
  /** Epoch ms; null: permanent (QR_LIMIT_STR_SCENE). */
  expiresAt: number | null;
}

/** A scan of a QR code as the control routes answer it: its status and body. */
export type ScanAnswer =
  | { status: 404 | 410; body: { error: string } }
  | { status: 200; body: { scene: string; event: PushEvent } & PushResult };

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
    private readonly pusher: EventPusher,
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
    this.qrs.set(ticket, { ticket, appid: app.appid, scene, issuedAt: this.core.now(), expiresAt });
    return {
      ticket,
      ...(expiresAt === null ? {} : { expire_seconds: lifetime }),
      url: `${this.baseUrl}${OA_QR_PATH}${encodeURIComponent(ticket)}`,
    };
  }

  /** The person follows the account (a scan of a code with a scene, or not); a second follow keeps the first. Whether they did not before. */
  follow(appid: string, userKey: string, scene: string | null = null): boolean {
    this.core.appOf(appid, 'official');
    this.core.people.upsert(userKey);
    const key = `${appid}\n${userKey}`;
    if (this.followers.has(key)) return false;
    this.followers.set(key, { since: Math.floor(this.core.now() / 1000), scene });
    return true;
  }

  /** The person stops following; whether they did. */
  unfollow(appid: string, userKey: string): boolean {
    this.core.appOf(appid, 'official');
    return this.followers.delete(`${appid}\n${userKey}`);
  }

  isFollowing(appid: string, userKey: string): boolean {
    return this.followers.has(`${appid}\n${userKey}`);
  }

  /** Pushes an event of this person to the account's server. */
  private push(appid: string, userKey: string, event: PushEvent, eventKey = '', ticket?: string) {
    const app = this.core.appOf(appid, 'official');
    const openid = this.core.people.openid(appid, userKey);
    return this.pusher.push({ app, openid, userKey, event, eventKey, ticket });
  }

  /**
   * A follow or unfollow done in WeChat, with its event pushed (`subscribe` without an EventKey,
   * `unsubscribe`) when it changes something; null when it does not (WeChat pushes nothing then).
   */
  async setFollowing(appid: string, userKey: string, following: boolean) {
    const changed = following ? this.follow(appid, userKey) : this.unfollow(appid, userKey);
    if (!changed) return null;
    const event: PushEvent = following ? 'subscribe' : 'unsubscribe';
    return { event, ...(await this.push(appid, userKey, event)) };
  }

  /** The newest QR code issued for this scene of this account. */
  qrOf(appid: string, scene: string): OfficialQr | undefined {
    return [...this.qrs.values()].findLast((qr) => qr.appid === appid && qr.scene === scene);
  }

  qrByTicket(ticket: string): OfficialQr | undefined {
    return this.qrs.get(ticket);
  }

  isExpired(qr: OfficialQr): boolean {
    return qr.expiresAt !== null && this.core.now() >= qr.expiresAt;
  }

  /** The event a scan of this account's code by this person pushes: `subscribe` if they follow through it, else `SCAN`. */
  scanEvent(appid: string, userKey: string): PushEvent {
    return this.isFollowing(appid, userKey) ? 'SCAN' : 'subscribe';
  }

  /**
   * A person scans a QR code in WeChat: they follow the account through it (`subscribe`, EventKey
   * `qrscene_<scene>`) or, following already, `SCAN` with the scene; either is pushed with the
   * code's Ticket. An expired code shows "二维码已过期" and pushes nothing (410); unknown, 404.
   */
  async scan(qr: OfficialQr | undefined, userKey: string, unknownReason: string): Promise<ScanAnswer> {
    if (!qr) return { status: 404, body: { error: unknownReason } };
    if (this.isExpired(qr)) {
      const at = new Date(qr.expiresAt!).toISOString();
      return {
        status: 410,
        body: { error: `二维码已过期: the QR code of scene "${qr.scene}" expired at ${at}` },
      };
    }
    const event = this.follow(qr.appid, userKey, qr.scene) ? 'subscribe' : 'SCAN';
    const eventKey = event === 'subscribe' ? `qrscene_${qr.scene}` : qr.scene;
    const result = await this.push(qr.appid, userKey, event, eventKey, qr.ticket);
    return { status: 200, body: { scene: qr.scene, event, ...result } };
  }

  /** The QR codes issued, newest first, as GET /__emulator/scenes lists them. */
  listQrs() {
    return [...this.qrs.values()].reverse().map((qr) => ({
      kind: 'oa-qr' as const,
      appid: qr.appid,
      scene: qr.scene,
      ticket: qr.ticket,
      phoneUrl: `${OA_QR_PATH}${encodeURIComponent(qr.ticket)}`,
      issuedAt: new Date(qr.issuedAt).toISOString(),
      expiresAt: qr.expiresAt === null ? null : new Date(qr.expiresAt).toISOString(),
      expired: this.isExpired(qr),
    }));
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

/** A follow or unfollow that changed nothing: WeChat pushes nothing. */
const NOTHING_PUSHED = { event: null, delivered: false, attempts: 0, status: null, reply: null };
const UNKNOWN_TICKET = 'This QR code is unknown to the emulator (never issued, or forgotten).';

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

const Follow = z.object({
  appid: z.string(),
  user: UserKey,
  following: z.boolean().default(true),
  push: z.boolean().default(false),
});
const QrScan = z.object({ user: UserKey });

/**
 * The control routes of official accounts: `POST /__emulator/follows { appid, user, following?, push? }`
 * (the person follows or stops following, as done in WeChat; with `push`, the `subscribe` or
 * `unsubscribe` event is pushed, else nothing: a person who followed long ago), `GET /__emulator/pushes`,
 * and the phone page a QR code's `url` opens (`/__emulator/oa-qr/<ticket>`) with its scan route.
 * 400 for an appid that is not an official account.
 */
export function officialAccountControlRoutes(
  api: OfficialAccountApi,
  pusher: EventPusher,
  core: EmulatorCore,
): FastifyPluginCallback {
  return (app, _options, done) => {
    app.post('/__emulator/follows', { schema: { body: Follow } }, async (request, reply) => {
      const { appid, user, following, push } = request.body as z.output<typeof Follow>;
      try {
        if (!push) {
          if (following) api.follow(appid, user);
          else api.unfollow(appid, user);
          return { appid, user, following };
        }
        const pushed = await api.setFollowing(appid, user, following);
        return { appid, user, following, ...(pushed ?? NOTHING_PUSHED) };
      } catch (error) {
        return reply.code(400).send({ error: (error as Error).message });
      }
    });
    app.get('/__emulator/pushes', async () => ({ pushes: pusher.list() }));

    // A page that knows only its scene (the example page's "Simulate a phone scanning this code"):
    // the phone for the newest QR code of that scene.
    app.get(
      OA_QR_PATH.slice(0, -1),
      { schema: { querystring: wechatQuery('appid', 'scene') } },
      async (request, reply) => {
        const { appid, scene } = request.query as Query;
        const qr = appid && scene ? api.qrOf(appid, scene) : undefined;
        if (!qr) return sendPhonePage(reply, gonePage('二维码无效', UNKNOWN_TICKET), 404);
        return reply.redirect(`${OA_QR_PATH}${encodeURIComponent(qr.ticket)}`, 302);
      },
    );
    const ticketOf = (request: { params: unknown }) => (request.params as { ticket: string }).ticket;
    app.get(`${OA_QR_PATH}:ticket`, async (request, reply) => {
      const qr = api.qrByTicket(ticketOf(request));
      if (!qr) return sendPhonePage(reply, gonePage('二维码无效', UNKNOWN_TICKET), 404);
      if (api.isExpired(qr)) {
        const at = new Date(qr.expiresAt!).toISOString();
        return sendPhonePage(reply, gonePage('二维码已过期', `This QR code expired at ${at}.`), 410);
      }
      const page = oaQrPage({
        appid: qr.appid,
        originalId: originalIdOf(qr.appid),
        scene: qr.scene,
        ticket: qr.ticket,
        expiresAt: qr.expiresAt === null ? null : new Date(qr.expiresAt).toISOString(),
        eventUrl: pusher.eventUrlOf(core.appOf(qr.appid)),
        people: core.people.list().map((person) => person.key),
        user: rememberedUser(request) ?? 'alice',
      });
      return sendPhonePage(reply, page);
    });
    app.post(`${OA_QR_PATH}:ticket/scan`, { schema: { body: QrScan } }, async (request, reply) => {
      const { user } = request.body as z.output<typeof QrScan>;
      const { status, body } = await api.scan(api.qrByTicket(ticketOf(request)), user, UNKNOWN_TICKET);
      return reply.code(status).send(body);
    });
    app.get(OA_QR_SCRIPT_PATH, async (_request, reply) => sendPhoneScript(reply, OA_QR_SCRIPT));
    done();
  };
}
