import { createHmac, randomBytes } from 'node:crypto';
import { encryptUserData, rawDataSignature, sessionKeySignature } from '../wechat/crypto.js';
import type { EmulatorApp, EmulatorAppKind } from './apps.js';

/** A body as WeChat sends it: an error has errcode/errmsg, a success usually has neither. */
export type WeChatBody = Record<string, unknown>;

export interface EmulatedUser {
  key: string;
  unionid: string;
  nickname: string;
  avatarUrl: string;
  phoneNumber: string;
}

interface Code {
  kind: 'oauth' | 'js' | 'phone';
  /** wx.login codes: the session key this login made, which jscode2session will return. */
  sessionKey?: string;
  appid: string;
  userKey: string;
  scope: string;
  expiresAt: number;
  used: boolean;
}

interface SnsToken {
  appid: string;
  userKey: string;
  scope: string;
  expiresAt: number;
}

interface SnsRefreshToken {
  appid: string;
  userKey: string;
  scope: string;
  accessToken: string;
  expiresAt: number;
}

interface AppToken {
  appid: string;
  expiresAt: number;
}

export interface Fault {
  path: string;
  times: number;
  errcode?: number;
  status?: number;
  delayMs?: number;
  drop?: boolean;
  malformed?: boolean;
}

export interface RequestLogEntry {
  at: string;
  method: string;
  path: string;
  appid: string | null;
  outcome: string;
}

const MINUTE = 60_000;
/** Codes (OAuth, wx.login, phone) are single use and live 5 minutes. */
export const CODE_TTL_MS = 5 * MINUTE;
const SNS_TOKEN_TTL_S = 7200;
const SNS_REFRESH_TTL_MS = 30 * 24 * 60 * MINUTE;
const APP_TOKEN_TTL_S = 7200;
/** /cgi-bin/token keeps the previous token valid this long after a new one is fetched. */
const APP_TOKEN_OVERLAP_MS = 5 * MINUTE;
const STABLE_FORCE_SPACING_MS = 30_000;
const MAX_LOG = 10_000;

/** WeChat's English errmsg for each errcode the emulator answers. */
const ERRMSG: Record<number, string> = {
  [-1]: 'system error',
  40001: 'invalid credential, access_token is invalid or not latest',
  40002: 'invalid grant_type',
  40003: 'invalid openid',
  40013: 'invalid appid',
  40014: 'invalid access_token',
  40029: 'invalid code',
  40030: 'invalid refresh_token',
  40125: 'invalid appsecret',
  40163: 'code been used',
  40226: 'code blocked',
  41001: 'access_token missing',
  41002: 'appid missing',
  41003: 'refresh_token missing',
  41004: 'appsecret missing',
  41008: 'missing code',
  41009: 'missing openid',
  42001: 'access_token expired',
  42002: 'refresh_token expired',
  42003: 'code expired',
  44002: 'empty post data',
  45011: 'api minute-quota reach limit mustslower retry next minute',
  47001: 'data format error',
  48001: 'api unauthorized',
  87009: 'invalid signature',
};

function rid(): string {
  const hex = randomBytes(12).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 16)}-${hex.slice(16)}`;
}

/** WeChat's error body, errmsg with its `rid:` suffix. */
export function wechatError(errcode: number): WeChatBody {
  return { errcode, errmsg: `${ERRMSG[errcode] ?? 'error'}, rid: ${rid()}` };
}

function token(bytes = 48): string {
  return randomBytes(bytes).toString('base64url');
}

function hasError(result: WeChatBody | object): result is WeChatBody {
  return typeof (result as WeChatBody).errcode === 'number' && (result as WeChatBody).errcode !== 0;
}

export interface StoreOptions {
  apps: readonly EmulatorApp[];
  /** Current time in ms; the emulator's clock (tests inject their own). */
  now: () => number;
  /** Seeds openids and unionids, so a key names the same person across restarts. */
  seed?: string;
}

/** WeChat's state and rules, without HTTP: what each endpoint answers for its parameters. */
export class EmulatorStore {
  readonly apps: ReadonlyMap<string, EmulatorApp>;
  private readonly seed: string;
  private readonly baseNow: () => number;
  private offsetMs = 0;
  private users = new Map<string, EmulatedUser>();
  private codes = new Map<string, Code>();
  private snsTokens = new Map<string, SnsToken>();
  private snsRefreshTokens = new Map<string, SnsRefreshToken>();
  /** Session key per `${appid}\n${userKey}`: one valid key per person and mini program. */
  private sessionKeys = new Map<string, string>();
  private appTokens = new Map<string, AppToken>();
  private latestAppToken = new Map<string, string>();
  private stableTokens = new Map<string, { token: string; expiresAt: number; lastForceAt: number }>();
  private faults: Fault[] = [];
  private log: RequestLogEntry[] = [];
  /** Calls per path since the start, not trimmed like the log (benchmarks count round trips). */
  private calls = new Map<string, number>();
  /** TCP connections accepted since the start (keep-alive shows as few connections). */
  connections = 0;
  latencyMs = 0;
  /** The emulator's own URL once it listens: default avatars are served from it. */
  baseUrl = '';

  constructor(options: StoreOptions) {
    this.apps = new Map(options.apps.map((app) => [app.appid, app]));
    this.baseNow = options.now;
    this.seed = options.seed ?? 'wechat-login-emulator';
  }

  now(): number {
    return this.baseNow() + this.offsetMs;
  }

  /** Moves the emulator's clock forward (expiry tests over HTTP). */
  advanceClock(ms: number): number {
    this.offsetMs += ms;
    return this.now();
  }

  /** Forgets users, codes, tokens, faults, latency and the log; keeps the apps. */
  reset(): void {
    this.users.clear();
    this.codes.clear();
    this.snsTokens.clear();
    this.snsRefreshTokens.clear();
    this.sessionKeys.clear();
    this.appTokens.clear();
    this.latestAppToken.clear();
    this.stableTokens.clear();
    this.faults = [];
    this.log = [];
    this.latencyMs = 0;
    this.offsetMs = 0;
  }

  // ---------------------------------------------------------------- identities

  private derive(label: string): string {
    return 'o' + createHmac('sha256', this.seed).update(label).digest('base64url').slice(0, 27);
  }

  /** One key is one person: its own openid in every app. */
  openid(appid: string, key: string): string {
    return this.derive(`openid\n${appid}\n${key}`);
  }

  /** The same unionid in every bound app. */
  unionidOf(key: string): string {
    return this.derive(`unionid\n${key}`);
  }

  upsertUser(key: string, profile: { nickname?: string; avatarUrl?: string; phoneNumber?: string } = {}) {
    let user = this.users.get(key);
    if (!user) {
      user = {
        key,
        unionid: this.unionidOf(key),
        nickname: profile.nickname ?? key,
        avatarUrl:
          profile.avatarUrl ?? `https://thirdwx.qlogo.cn/mmopen/emulator-${encodeURIComponent(key)}/132`,
        phoneNumber:
          profile.phoneNumber ??
          `138${(parseInt(this.unionidOf(key).slice(1, 9), 36) % 1e8).toString().padStart(8, '0')}`,
      };
      this.users.set(key, user);
    } else {
      if (profile.nickname !== undefined) user.nickname = profile.nickname;
      if (profile.avatarUrl !== undefined) user.avatarUrl = profile.avatarUrl;
      if (profile.phoneNumber !== undefined) user.phoneNumber = profile.phoneNumber;
    }
    return user;
  }

  listUsers(): EmulatedUser[] {
    return [...this.users.values()];
  }

  private userByOpenid(appid: string, openid: string): EmulatedUser | undefined {
    for (const user of this.users.values()) if (this.openid(appid, user.key) === openid) return user;
    return undefined;
  }

  // ---------------------------------------------------------------- codes (control API and pages)

  /** Mints a code as if the person confirmed a login in that app (creates the user on first use). */
  mintCode(appid: string, userKey: string, scope?: string): string {
    const app = this.apps.get(appid);
    if (!app) throw new Error(`unknown appid "${appid}"`);
    this.upsertUser(userKey);
    const code = randomBytes(16).toString('hex');
    const defaultScope = app.kind === 'web' ? 'snsapi_login' : app.kind === 'mini' ? '' : 'snsapi_userinfo';
    // As in WeChat, wx.login makes a new session key: encrypted data from now on uses it, and the
    // exchange of this code returns it.
    let sessionKey: string | undefined;
    if (app.kind === 'mini') {
      sessionKey = randomBytes(16).toString('base64');
      this.sessionKeys.set(`${appid}\n${userKey}`, sessionKey);
    }
    this.codes.set(code, {
      sessionKey,
      kind: app.kind === 'mini' ? 'js' : 'oauth',
      appid,
      userKey,
      scope: scope ?? defaultScope,
      expiresAt: this.now() + CODE_TTL_MS,
      used: false,
    });
    return code;
  }

  /** A getPhoneNumber code of a mini program user. */
  mintPhoneCode(appid: string, userKey: string, phoneNumber?: string): string {
    const app = this.apps.get(appid);
    if (!app || app.kind !== 'mini') throw new Error(`"${appid}" is not a mini program of this emulator`);
    this.upsertUser(userKey, phoneNumber ? { phoneNumber } : {});
    const code = randomBytes(32).toString('hex');
    this.codes.set(code, {
      kind: 'phone',
      appid,
      userKey,
      scope: '',
      expiresAt: this.now() + CODE_TTL_MS,
      used: false,
    });
    return code;
  }

  /**
   * encryptedData, iv, rawData and signature as wx.getUserProfile gives them, made with the session
   * key of this person's latest wx.login in this mini program.
   */
  encryptedData(appid: string, userKey: string) {
    const app = this.apps.get(appid);
    if (!app || app.kind !== 'mini') throw new Error(`"${appid}" is not a mini program of this emulator`);
    const sessionKey = this.sessionKeys.get(`${appid}\n${userKey}`);
    if (!sessionKey)
      throw new Error(`"${userKey}" has no session key in ${appid}: mint a code first (wx.login)`);
    const user = this.upsertUser(userKey);
    const profile = {
      nickName: user.nickname,
      gender: 0,
      language: 'zh_CN',
      city: '',
      province: '',
      country: '',
      avatarUrl: user.avatarUrl,
    };
    const data = {
      openId: this.openid(appid, userKey),
      ...profile,
      ...(app.bound ? { unionId: user.unionid } : {}),
      watermark: { appid, timestamp: Math.floor(this.now() / 1000) },
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

  // ---------------------------------------------------------------- shared checks

  private checkApp(appid: string | undefined, secret: string | undefined, kinds: EmulatorAppKind[]) {
    if (!appid) return wechatError(41002);
    if (secret === undefined || secret === '') return wechatError(41004);
    const app = this.apps.get(appid);
    if (!app || !kinds.includes(app.kind)) return wechatError(40013);
    if (app.secret !== secret) return wechatError(40125);
    return app;
  }

  /** Takes a code: unknown or another app's → 40029; used → `usedErrcode`; expired → `expiredErrcode`. */
  private takeCode(
    code: string,
    appid: string,
    kind: Code['kind'],
    usedErrcode: number,
    expiredErrcode: number,
  ) {
    const entry = this.codes.get(code);
    if (!entry || entry.appid !== appid || entry.kind !== kind) return wechatError(40029);
    if (entry.used) return wechatError(usedErrcode);
    if (this.now() >= entry.expiresAt) return wechatError(expiredErrcode);
    entry.used = true;
    return entry;
  }

  private snsToken(accessToken: string | undefined, openid: string | undefined) {
    if (!accessToken) return wechatError(41001);
    if (!openid) return wechatError(41009);
    const entry = this.snsTokens.get(accessToken);
    if (!entry) return wechatError(40014);
    if (this.now() >= entry.expiresAt) return wechatError(42001);
    if (this.openid(entry.appid, entry.userKey) !== openid) return wechatError(40003);
    return entry;
  }

  private appToken(accessToken: string | undefined) {
    if (!accessToken) return wechatError(41001);
    const entry = this.appTokens.get(accessToken);
    if (!entry) return wechatError(40001);
    if (this.now() >= entry.expiresAt) return wechatError(42001);
    return entry;
  }

  private issueSnsToken(appid: string, userKey: string, scope: string): string {
    const accessToken = token();
    this.snsTokens.set(accessToken, {
      appid,
      userKey,
      scope,
      expiresAt: this.now() + SNS_TOKEN_TTL_S * 1000,
    });
    return accessToken;
  }

  // ---------------------------------------------------------------- API endpoints

  /** GET /sns/oauth2/access_token */
  oauthAccessToken(q: Record<string, string | undefined>): WeChatBody {
    const app = this.checkApp(q.appid, q.secret, ['web', 'app', 'official']);
    if (hasError(app)) return app;
    if (!q.code) return wechatError(41008);
    if (q.grant_type !== 'authorization_code') return wechatError(40002);
    const code = this.takeCode(q.code, app.appid, 'oauth', 40163, 42003);
    if (hasError(code)) return code;
    const accessToken = this.issueSnsToken(app.appid, code.userKey, code.scope);
    const refreshToken = token();
    this.snsRefreshTokens.set(refreshToken, {
      appid: app.appid,
      userKey: code.userKey,
      scope: code.scope,
      accessToken,
      expiresAt: this.now() + SNS_REFRESH_TTL_MS,
    });
    // Official accounts give the unionid only with snsapi_userinfo; Open Platform apps always do when bound.
    const unionid = app.bound && (app.kind !== 'official' || code.scope.includes('snsapi_userinfo'));
    return {
      access_token: accessToken,
      expires_in: SNS_TOKEN_TTL_S,
      refresh_token: refreshToken,
      openid: this.openid(app.appid, code.userKey),
      scope: code.scope,
      ...(unionid ? { unionid: this.unionidOf(code.userKey) } : {}),
    };
  }

  /** GET /sns/oauth2/refresh_token: a new access token if expired, else the same one renewed. */
  oauthRefreshToken(q: Record<string, string | undefined>): WeChatBody {
    if (!q.appid) return wechatError(41002);
    if (!this.apps.has(q.appid)) return wechatError(40013);
    if (q.grant_type !== 'refresh_token') return wechatError(40002);
    if (!q.refresh_token) return wechatError(41003);
    const entry = this.snsRefreshTokens.get(q.refresh_token);
    if (!entry || entry.appid !== q.appid) return wechatError(40030);
    if (this.now() >= entry.expiresAt) return wechatError(42002);
    const current = this.snsTokens.get(entry.accessToken);
    if (current && this.now() < current.expiresAt) {
      current.expiresAt = this.now() + SNS_TOKEN_TTL_S * 1000;
    } else {
      this.snsTokens.delete(entry.accessToken);
      entry.accessToken = this.issueSnsToken(entry.appid, entry.userKey, entry.scope);
    }
    return {
      access_token: entry.accessToken,
      expires_in: SNS_TOKEN_TTL_S,
      refresh_token: q.refresh_token,
      openid: this.openid(entry.appid, entry.userKey),
      scope: entry.scope,
    };
  }

  /** GET /sns/auth */
  snsAuth(q: Record<string, string | undefined>): WeChatBody {
    const entry = this.snsToken(q.access_token, q.openid);
    if (hasError(entry)) return entry;
    return { errcode: 0, errmsg: 'ok' };
  }

  /** GET /sns/userinfo: needs snsapi_userinfo or snsapi_login, else 48001. */
  snsUserinfo(q: Record<string, string | undefined>): WeChatBody {
    const entry = this.snsToken(q.access_token, q.openid);
    if (hasError(entry)) return entry;
    if (!/snsapi_(userinfo|login)/.test(entry.scope)) return wechatError(48001);
    const user = this.upsertUser(entry.userKey);
    const app = this.apps.get(entry.appid)!;
    return {
      openid: this.openid(entry.appid, entry.userKey),
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

  /** GET /sns/jscode2session: the fresh session key of that wx.login, remembered per person and app. */
  jscode2session(q: Record<string, string | undefined>): WeChatBody {
    const app = this.checkApp(q.appid, q.secret, ['mini']);
    if (hasError(app)) return app;
    if (!q.js_code) return wechatError(41008);
    if (q.grant_type !== 'authorization_code') return wechatError(40002);
    const code = this.takeCode(q.js_code, app.appid, 'js', 40029, 40029);
    if (hasError(code)) return code;
    const sessionKey = code.sessionKey!;
    return {
      session_key: sessionKey,
      openid: this.openid(app.appid, code.userKey),
      ...(app.bound ? { unionid: this.unionidOf(code.userKey) } : {}),
    };
  }

  /** GET /cgi-bin/token: each call rotates; the previous token stays valid 5 minutes. */
  cgiToken(q: Record<string, string | undefined>): WeChatBody {
    if (q.grant_type !== 'client_credential') return wechatError(40002);
    const app = this.checkApp(q.appid, q.secret, ['web', 'app', 'mini', 'official']);
    if (hasError(app)) return app;
    const previous = this.latestAppToken.get(app.appid);
    if (previous) {
      const entry = this.appTokens.get(previous);
      if (entry) entry.expiresAt = Math.min(entry.expiresAt, this.now() + APP_TOKEN_OVERLAP_MS);
    }
    const accessToken = token(96);
    this.appTokens.set(accessToken, { appid: app.appid, expiresAt: this.now() + APP_TOKEN_TTL_S * 1000 });
    this.latestAppToken.set(app.appid, accessToken);
    return { access_token: accessToken, expires_in: APP_TOKEN_TTL_S };
  }

  /** POST /cgi-bin/stable_token: the same token until force_refresh (at most every 30 s). */
  stableToken(body: Record<string, unknown>): WeChatBody {
    const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
    if (body.grant_type !== 'client_credential') return wechatError(40002);
    const app = this.checkApp(str(body.appid), str(body.secret), ['web', 'app', 'mini', 'official']);
    if (hasError(app)) return app;
    const now = this.now();
    let entry = this.stableTokens.get(app.appid);
    const force =
      body.force_refresh === true && (!entry || now - entry.lastForceAt >= STABLE_FORCE_SPACING_MS);
    if (!entry || force || now >= entry.expiresAt) {
      // The previous stable token stops working when it is replaced.
      if (entry) this.appTokens.delete(entry.token);
      const fresh = token(96);
      entry = {
        token: fresh,
        expiresAt: now + APP_TOKEN_TTL_S * 1000,
        lastForceAt: force ? now : (entry?.lastForceAt ?? -Infinity),
      };
      this.stableTokens.set(app.appid, entry);
      this.appTokens.set(fresh, { appid: app.appid, expiresAt: entry.expiresAt });
    }
    return { access_token: entry.token, expires_in: Math.max(1, Math.floor((entry.expiresAt - now) / 1000)) };
  }

  /** POST /wxa/business/getuserphonenumber */
  getUserPhoneNumber(q: Record<string, string | undefined>, body: Record<string, unknown>): WeChatBody {
    const appToken = this.appToken(q.access_token);
    if (hasError(appToken)) return appToken;
    if (typeof body.code !== 'string' || !body.code) return wechatError(47001);
    const code = this.takeCode(body.code, appToken.appid, 'phone', 40029, 40029);
    if (hasError(code)) return code;
    if (typeof body.openid === 'string' && body.openid !== this.openid(code.appid, code.userKey)) {
      return wechatError(40003);
    }
    const user = this.upsertUser(code.userKey);
    return {
      errcode: 0,
      errmsg: 'ok',
      phone_info: {
        phoneNumber: user.phoneNumber,
        purePhoneNumber: user.phoneNumber,
        countryCode: '86',
        watermark: { timestamp: Math.floor(this.now() / 1000), appid: code.appid },
      },
    };
  }

  /** GET /wxa/checksession: signature = hex(HMAC-SHA256(session_key, "")). */
  checkSession(q: Record<string, string | undefined>): WeChatBody {
    const appToken = this.appToken(q.access_token);
    if (hasError(appToken)) return appToken;
    if (!q.openid) return wechatError(41009);
    if (q.sig_method !== 'hmac_sha256' || !q.signature) return wechatError(87009);
    const user = this.userByOpenid(appToken.appid, q.openid);
    if (!user) return wechatError(40003);
    const sessionKey = this.sessionKeys.get(`${appToken.appid}\n${user.key}`);
    if (!sessionKey || sessionKeySignature(sessionKey) !== q.signature) return wechatError(87009);
    return { errcode: 0, errmsg: 'ok' };
  }

  /**
   * Every secret the emulator has handed out (session keys, OAuth and app tokens), in-process only:
   * tests scan logs and responses for them.
   */
  issuedSecrets(): string[] {
    return [
      ...this.sessionKeys.values(),
      ...this.snsTokens.keys(),
      ...this.snsRefreshTokens.keys(),
      ...this.appTokens.keys(),
      ...[...this.apps.values()].map((app) => app.secret),
    ];
  }

  /** The session key last given to this person in this mini program (in-process tests only). */
  sessionKeyOf(appid: string, userKey: string): string | undefined {
    return this.sessionKeys.get(`${appid}\n${userKey}`);
  }

  // ---------------------------------------------------------------- faults and the request log

  addFault(fault: Fault): void {
    this.faults.push({ ...fault });
  }

  /** The next fault for this path, counting one of its `times` down. */
  takeFault(path: string): Fault | undefined {
    const fault = this.faults.find((f) => f.path === path && f.times > 0);
    if (!fault) return undefined;
    fault.times -= 1;
    if (fault.times === 0) this.faults = this.faults.filter((f) => f !== fault);
    return fault;
  }

  record(entry: Omit<RequestLogEntry, 'at'>): void {
    this.calls.set(entry.path, (this.calls.get(entry.path) ?? 0) + 1);
    this.log.push({ at: new Date(this.now()).toISOString(), ...entry });
    if (this.log.length > MAX_LOG) this.log.splice(0, this.log.length - MAX_LOG);
  }

  requests(): RequestLogEntry[] {
    return [...this.log];
  }

  stats(): { calls: Record<string, number>; connections: number } {
    return { calls: Object.fromEntries(this.calls), connections: this.connections };
  }
}
