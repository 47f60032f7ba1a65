import { randomBytes } from 'node:crypto';
import type { FastifyPluginCallback } from 'fastify';
import QRCode from 'qrcode';
import type { AppTokenApi } from './app-tokens.api.js';
import type { EmulatorCore } from './core.js';
import { isError, wechatError, type WeChatBody } from './wechat-errors.js';
import {
  BinaryAnswer,
  wechatQuery,
  type Query,
  type WeChatAnswer,
  type WeChatResponder,
} from './wechat-route.js';

const DAY_MS = 24 * 60 * 60_000;
/** A URL Link lives at most 30 days (WeChat's limit since 2023, for both kinds of expiry). */
const MAX_LINK_DAYS = 30;
/** How many codes and links the emulator remembers (the phone page's list, scans, link ids). */
export const MAX_ISSUED = 200;

/** A scene as getwxacodeunlimit takes it: 1–32 of these characters. */
const SCENE = /^[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}$/;
/** A page or path of the mini program: no leading `/`. WeChat checks it exists; the emulator only that it looks like one. */
const PAGE = /^[A-Za-z0-9_\-/]{1,128}$/;
/** A URL Link's query: at most 1024 of these characters. */
const LINK_QUERY = /^[0-9A-Za-z!#$&'()*+,/:;=?@\-._~%]{0,1024}$/;
const ENV_VERSIONS = ['release', 'trial', 'develop'];
const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** The phone page of the emulator, relative to its URL: what a code encodes and a link leads to. */
export const PHONE_PATH = '/__emulator/phone';
/** Where a URL Link points, relative to the emulator's URL; the link's id follows. */
export const URL_LINK_PATH = '/__emulator/urllink/';
/** Where the PNG of an issued code is served again, relative to the emulator's URL: `<n>.png` follows. */
export const WXACODE_PATH = '/__emulator/wxacode/';

/** A mini program code (getwxacodeunlimit) or URL Link (generate_urllink) the emulator issued. */
export interface Issued {
  /** 1 for the first code or link since the start, and so on; never reused (not even after a reset). */
  n: number;
  kind: 'code' | 'link';
  appid: string;
  /** The code's scene, or the `scene=` of the link's query (null when it has none). */
  scene: string | null;
  /** The code's page or the link's path; null: the mini program's home page. */
  page: string | null;
  envVersion: string;
  issuedAt: number;
  /** How many times POST /__emulator/scan scanned it. */
  scans: number;
  /** A code's image. */
  png?: Buffer;
  /** A link's id (the last segment of its url_link), query and end. */
  linkId?: string;
  query?: string;
  expiresAt?: number;
}

/** The mini program an app access token belongs to. */
interface TokenApp {
  appid: string;
}

const isInteger = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

/** '' and absent are the home page; otherwise a page as WeChat takes it, or null when it is not one. */
function pageOf(value: unknown): { page: string | null } | null {
  if (value === undefined || value === '') return { page: null };
  if (typeof value !== 'string' || value.startsWith('/') || !PAGE.test(value)) return null;
  return { page: value };
}

/**
 * A code's PNG: a QR code of `text`, `width` pixels wide. pngjs's "up" filter on every row (a QR
 * code's rows repeat, so they filter to zeros) and zlib's default strategy: a smaller image than
 * qrcode's defaults, made far faster (trying all five filters on each row took about a second per
 * code under Jest).
 */
export function qrPng(text: string, width: number): Promise<Buffer> {
  // filterType goes through to pngjs (@types/qrcode does not list it); a new object each time, as qrcode writes into it.
  const rendererOpts = { deflateStrategy: 0, filterType: 2 };
  return QRCode.toBuffer(text, { type: 'png', margin: 1, width, rendererOpts });
}

function linkId(): string {
  return [...randomBytes(20)].map((b) => ID_ALPHABET[b % ID_ALPHABET.length]).join('');
}

/**
 * WeChat's codes and links that open a mini program page with a parameter: the mini program code
 * (`/wxa/getwxacodeunlimit`, a PNG carrying a `scene`) and the URL Link (`/wxa/generate_urllink`,
 * an https link that opens the mini program from a browser). The emulator's code encodes the URL of
 * its phone page for that scene, and its link leads there, so a person can "scan" either.
 */
export class MiniProgramCodesApi {
  private issued: Issued[] = [];
  private count = 0;
  private baseUrl = '';

  constructor(
    private readonly core: EmulatorCore,
    private readonly appTokens: AppTokenApi,
  ) {}

  /** The emulator's own URL, known once it listens: codes encode it, links point at it. */
  serveFrom(baseUrl: string): void {
    this.baseUrl = baseUrl;
  }

  /** The phone page for this scene of this mini program, below the emulator's URL. */
  phonePath(appid: string, scene: string | null, via?: 'link'): string {
    const query = new URLSearchParams({ appid });
    if (scene !== null) query.set('scene', scene);
    if (via) query.set('via', via);
    return `${PHONE_PATH}?${query}`;
  }

  /** The phone page for this scene of this mini program: what its code encodes. */
  phoneUrl(appid: string, scene: string): string {
    return `${this.baseUrl}${this.phonePath(appid, scene)}`;
  }

  /** A mini program's app token, or WeChat's error: the token's (41001, 40001, 42001), 48001 for another kind of app's. */
  private miniApp(accessToken: string | undefined): TokenApp | WeChatBody {
    const token = this.appTokens.check(accessToken);
    if (isError(token)) return token;
    if (this.core.apps.get(token.appid)?.kind !== 'mini') return wechatError(48001);
    return token;
  }

  /** POST /wxa/getwxacodeunlimit: the PNG of a code for `scene`, or a JSON error. */
  async codeUnlimited(
    q: Query,
    body: Record<string, unknown>,
    logAs: (appid: string) => void,
  ): Promise<WeChatAnswer> {
    const app = this.miniApp(q.access_token);
    if (isError(app)) return app;
    logAs(app.appid);
    if (typeof body.scene !== 'string' || !SCENE.test(body.scene)) return wechatError(40169);
    const page = pageOf(body.page);
    if (!page) return wechatError(41030);
    const envVersion = body.env_version ?? 'release';
    if (typeof envVersion !== 'string' || !ENV_VERSIONS.includes(envVersion)) return wechatError(40097);
    if (body.check_path !== undefined && typeof body.check_path !== 'boolean') return wechatError(40097);
    const width = body.width ?? 430;
    if (!isInteger(width) || width < 280 || width > 1280) return wechatError(40097);
    const png = await qrPng(this.phoneUrl(app.appid, body.scene), width);
    this.remember({ kind: 'code', appid: app.appid, scene: body.scene, ...page, envVersion, png });
    return new BinaryAnswer('image/png', png);
  }

  /** POST /wxa/generate_urllink: `{ errcode: 0, errmsg: 'ok', url_link }`, a link to the phone page. */
  urlLink(q: Query, body: Record<string, unknown>, logAs: (appid: string) => void): WeChatBody {
    const app = this.miniApp(q.access_token);
    if (isError(app)) return app;
    logAs(app.appid);
    const page = pageOf(body.path);
    if (!page) return wechatError(41030);
    const query = body.query ?? '';
    if (typeof query !== 'string' || !LINK_QUERY.test(query)) return wechatError(40097);
    const envVersion = body.env_version ?? 'release';
    if (typeof envVersion !== 'string' || !ENV_VERSIONS.includes(envVersion)) return wechatError(40097);
    const expiresAt = this.linkExpiry(body);
    if (expiresAt === null) return wechatError(40097);
    const id = linkId();
    const scene = new URLSearchParams(query).get('scene');
    this.remember({
      kind: 'link',
      appid: app.appid,
      scene,
      ...page,
      envVersion,
      linkId: id,
      query,
      expiresAt,
    });
    return { errcode: 0, errmsg: 'ok', url_link: `${this.baseUrl}${URL_LINK_PATH}${id}` };
  }

  /**
   * When a link ends, in ms: `expire_type` 1 is `expire_interval` days (1–30) from now, 0 (the
   * default) the unix time `expire_time`, in the future and at most 30 days away; null if invalid.
   */
  private linkExpiry(body: Record<string, unknown>): number | null {
    const now = this.core.now();
    const type = body.expire_type ?? 0;
    if (type === 1) {
      const days = body.expire_interval;
      if (!isInteger(days) || days < 1 || days > MAX_LINK_DAYS) return null;
      return now + days * DAY_MS;
    }
    if (type !== 0) return null;
    const at = body.expire_time;
    if (!isInteger(at) || at * 1000 <= now || at * 1000 > now + MAX_LINK_DAYS * DAY_MS) return null;
    return at * 1000;
  }

  private remember(entry: Omit<Issued, 'n' | 'issuedAt' | 'scans'>): void {
    this.count += 1;
    this.issued.push({ ...entry, n: this.count, issuedAt: this.core.now(), scans: 0 });
    if (this.issued.length > MAX_ISSUED) this.issued.splice(0, this.issued.length - MAX_ISSUED);
  }

  /** The codes and links remembered, newest first. */
  list(): Issued[] {
    return [...this.issued].reverse();
  }

  /** The latest code or link issued for this scene of this app, or undefined. */
  find(appid: string, scene: string): Issued | undefined {
    return this.issued.findLast((i) => i.appid === appid && i.scene === scene);
  }

  /** A scan of this scene of this app (POST /__emulator/scan): the code or link it was, counted, or undefined. */
  scan(appid: string, scene: string): Issued | undefined {
    const entry = this.find(appid, scene);
    if (entry) entry.scans += 1;
    return entry;
  }

  /** An issued code or link as the control API lists it: without the image, times in ISO 8601. */
  describe(entry: Issued) {
    const { png: _png, linkId: _id, issuedAt, expiresAt, ...rest } = entry;
    return {
      ...rest,
      issuedAt: new Date(issuedAt).toISOString(),
      ...(entry.kind === 'code'
        ? { pngUrl: this.pngUrl(entry) }
        : { urlLink: this.linkUrl(entry), expiresAt: new Date(expiresAt!).toISOString() }),
    };
  }

  /** The code numbered `n`, or undefined (never issued, or forgotten). */
  code(n: number): Issued | undefined {
    return this.issued.find((i) => i.n === n && i.kind === 'code');
  }

  /** The link of this id, or undefined. */
  link(id: string): Issued | undefined {
    return this.issued.find((i) => i.kind === 'link' && i.linkId === id);
  }

  /** The link's url_link, as generate_urllink answered it. */
  linkUrl(entry: Issued): string {
    return `${this.baseUrl}${URL_LINK_PATH}${entry.linkId}`;
  }

  /** Where the code's PNG is served again. */
  pngUrl(entry: Issued): string {
    return `${this.baseUrl}${WXACODE_PATH}${entry.n}.png`;
  }

  /** Forgets the codes and links (their numbers go on from where they were). */
  reset(): void {
    this.issued = [];
  }
}

/** The mini program code and URL Link routes of api.weixin.qq.com. */
export function miniProgramCodeRoutes(
  api: MiniProgramCodesApi,
  respond: WeChatResponder,
): FastifyPluginCallback {
  return (app, _options, done) => {
    const body = (request: { body?: unknown }) => (request.body ?? {}) as Record<string, unknown>;
    const token = { schema: { querystring: wechatQuery('access_token') } };
    // WeChat reads POST bodies itself (a body that is not JSON is its 47001): no body schema.
    app.post('/wxa/getwxacodeunlimit', token, (req, rep) =>
      respond(req, rep, (logAs) => api.codeUnlimited(req.query as Query, body(req), logAs)),
    );
    app.post('/wxa/generate_urllink', token, (req, rep) =>
      respond(req, rep, (logAs) => api.urlLink(req.query as Query, body(req), logAs)),
    );
    done();
  };
}
