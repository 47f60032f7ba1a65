import { createHmac, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { EmulatorApp, EmulatorAppKind } from './apps.js';
import { wechatError, type WeChatBody } from './wechat-errors.js';

const MINUTE = 60_000;
/** Codes (OAuth, wx.login, phone) are single use and live 5 minutes. */
export const CODE_TTL_MS = 5 * MINUTE;

const KIND_NAMES: Record<EmulatorAppKind, string> = {
  web: 'website app',
  app: 'mobile app',
  mini: 'mini program',
  official: 'official account',
};

export interface EmulatedUser {
  key: string;
  unionid: string;
  nickname: string;
  avatarUrl: string;
  phoneNumber: string;
}

export type CodeKind = 'oauth' | 'js' | 'phone';

export interface Code {
  kind: CodeKind;
  /** An official account's login in snapshot mode (快照页模式): a virtual account, not the person. */
  snapshot?: boolean;
  /** wx.login codes: the session key this login made, which jscode2session will return. */
  sessionKey?: string;
  appid: string;
  userKey: string;
  scope: string;
  expiresAt: number;
  used: boolean;
}

/** The emulator's clock: the injected one plus whatever POST /__emulator/clock added. */
export class Clock {
  private offsetMs = 0;

  constructor(private readonly base: () => number) {}

  now(): number {
    return this.base() + this.offsetMs;
  }

  advance(ms: number): number {
    this.offsetMs += ms;
    return this.now();
  }

  reset(): void {
    this.offsetMs = 0;
  }
}

/** A person's key, as the control API and the login page take it. */
export const UserKey = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'user key: 1-64 letters, digits, _ . or -');

/** Where the emulator serves a person's generated avatar (an SVG), below its base URL. */
export const AVATAR_PATH = '/__emulator/avatars/';

/**
 * WeChat's grey default avatar, as the emulator serves it: outside AVATAR_PATH, so no person's key
 * (a person may be called "default") can be mistaken for it.
 */
export const DEFAULT_AVATAR_PATH = '/__emulator/default-avatar.svg';

/** The nickname WeChat gives a mini program's wx.getUserProfile since 2022 instead of the real one. */
export const ANONYMOUS_NICKNAME = '微信用户';

/** People, named by a caller-chosen key: one key is one person, with stable ids across restarts. */
/** The seed of everyone's openid and unionid when none is given (the same after a restart). */
export const DEFAULT_SEED = 'wechat-login-emulator';

export class People {
  private readonly users = new Map<string, EmulatedUser>();
  private baseUrl = '';

  constructor(private readonly seed: string) {}

  /**
   * The emulator's own URL, known once it listens (createEmulator sets it before anyone can reach
   * it): people without an avatar of their own get one served there, so pages show it offline.
   */
  serveAvatarsFrom(baseUrl: string): void {
    this.baseUrl = baseUrl;
  }

  /** The avatar the emulator serves for this person: http://127.0.0.1:4100/__emulator/avatars/alice.svg */
  avatarUrlOf(key: string): string {
    return `${this.baseUrl}${AVATAR_PATH}${encodeURIComponent(key)}.svg`;
  }

  /** WeChat's grey default avatar, the same for everyone: http://127.0.0.1:4100/__emulator/default-avatar.svg */
  defaultAvatarUrl(): string {
    return `${this.baseUrl}${DEFAULT_AVATAR_PATH}`;
  }

  private derive(label: string): string {
    return 'o' + createHmac('sha256', this.seed).update(label).digest('base64url').slice(0, 27);
  }

  /** Each person has its own openid in every app. */
  openid(appid: string, key: string): string {
    return this.derive(`openid\n${appid}\n${key}`);
  }

  /** The same unionid in every bound app. */
  unionidOf(key: string): string {
    return this.derive(`unionid\n${key}`);
  }

  /**
   * The virtual account WeChat gives a page opened in snapshot mode (快照页模式): derived from
   * another label than the person's, so it never equals their real openid or unionid.
   */
  snapshotOpenid(appid: string, key: string): string {
    return this.derive(`snapshot-openid\n${appid}\n${key}`);
  }

  snapshotUnionid(key: string): string {
    return this.derive(`snapshot-unionid\n${key}`);
  }

  /** A mainland mobile number of 11 digits, derived from the key (the same after a restart). */
  phoneNumberOf(key: string): string {
    const digits = parseInt(
      createHmac('sha256', this.seed).update(`phone\n${key}`).digest('hex').slice(0, 12),
      16,
    );
    return `138${(digits % 1e8).toString().padStart(8, '0')}`;
  }

  upsert(key: string, profile: { nickname?: string; avatarUrl?: string; phoneNumber?: string } = {}) {
    let user = this.users.get(key);
    if (!user) {
      user = {
        key,
        unionid: this.unionidOf(key),
        nickname: profile.nickname ?? key,
        avatarUrl: profile.avatarUrl ?? this.avatarUrlOf(key),
        phoneNumber: profile.phoneNumber ?? this.phoneNumberOf(key),
      };
      this.users.set(key, user);
    } else {
      if (profile.nickname !== undefined) user.nickname = profile.nickname;
      if (profile.avatarUrl !== undefined) user.avatarUrl = profile.avatarUrl;
      if (profile.phoneNumber !== undefined) user.phoneNumber = profile.phoneNumber;
    }
    return user;
  }

  list(): EmulatedUser[] {
    return [...this.users.values()];
  }

  byOpenid(appid: string, openid: string): EmulatedUser | undefined {
    for (const user of this.users.values()) if (this.openid(appid, user.key) === openid) return user;
    return undefined;
  }

  reset(): void {
    this.users.clear();
  }
}

/** Single-use codes of every kind: OAuth, wx.login (js) and phone-number codes. */
export class Codes {
  private readonly codes = new Map<string, Code>();

  constructor(private readonly clock: Clock) {}

  mint(entry: Omit<Code, 'expiresAt' | 'used'>, bytes = 16): string {
    const code = randomBytes(bytes).toString('hex');
    this.codes.set(code, { ...entry, expiresAt: this.clock.now() + CODE_TTL_MS, used: false });
    return code;
  }

  /** Takes a code: unknown or another app's → 40029; used → `usedErrcode`; expired → `expiredErrcode`. */
  take(code: string, appid: string, kind: CodeKind, usedErrcode: number, expiredErrcode: number) {
    const entry = this.codes.get(code);
    if (!entry || entry.appid !== appid || entry.kind !== kind) return wechatError(40029);
    if (entry.used) return wechatError(usedErrcode);
    if (this.clock.now() >= entry.expiresAt) return wechatError(expiredErrcode);
    entry.used = true;
    return entry;
  }

  reset(): void {
    this.codes.clear();
  }
}

export interface CoreOptions {
  apps: readonly EmulatorApp[];
  /** Current time in ms; the emulator's clock (tests inject their own). */
  now: () => number;
  /** Seeds openids and unionids, so a key names the same person across restarts. */
  seed?: string;
}

/** What every WeChat API area shares: the apps, the clock, the people and the codes. */
export class EmulatorCore {
  private readonly appsById: Map<string, EmulatorApp>;
  readonly clock: Clock;
  readonly people: People;
  readonly codes: Codes;

  constructor(options: CoreOptions) {
    this.appsById = new Map(options.apps.map((app) => [app.appid, app]));
    this.clock = new Clock(options.now);
    this.people = new People(options.seed ?? DEFAULT_SEED);
    this.codes = new Codes(this.clock);
  }

  get apps(): ReadonlyMap<string, EmulatorApp> {
    return this.appsById;
  }

  now(): number {
    return this.clock.now();
  }

  /**
   * Binds an app to the Open Platform account now (POST /__emulator/apps/bind): from its next
   * answer on it gives unionids, as a real app bound after people used it. Throws for an unknown app.
   */
  bind(appid: string): EmulatorApp {
    const bound = { ...this.appOf(appid), bound: true };
    this.appsById.set(appid, bound);
    return bound;
  }

  /** An app's credentials as WeChat checks them: 41002, 41004, 40013 (or not this kind), 40125. */
  checkApp(
    appid: string | undefined,
    secret: string | undefined,
    kinds: readonly EmulatorAppKind[],
  ): EmulatorApp | WeChatBody {
    if (!appid) return wechatError(41002);
    if (secret === undefined || secret === '') return wechatError(41004);
    const app = this.apps.get(appid);
    if (!app || !kinds.includes(app.kind)) return wechatError(40013);
    if (app.secret !== secret) return wechatError(40125);
    return app;
  }

  /** An app for the control API (of this kind when given); throws with a reason otherwise. */
  appOf(appid: string, kind?: EmulatorAppKind): EmulatorApp {
    const app = this.apps.get(appid);
    if (kind && app?.kind !== kind) {
      throw new Error(`"${appid}" is not a ${KIND_NAMES[kind]} of this emulator`);
    }
    if (!app) throw new Error(`unknown appid "${appid}"`);
    return app;
  }

  reset(): void {
    this.people.reset();
    this.codes.reset();
    this.clock.reset();
  }
}
