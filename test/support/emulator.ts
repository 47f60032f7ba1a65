import { expect } from '@jest/globals';
import type { EmulatorApp } from '../../src/emulator/apps.js';

/** The emulator's control API, as tests drive it over HTTP. */
export interface EmulatorControl {
  post<T = Record<string, unknown>>(path: string, body: unknown): Promise<T>;
  /**
   * Mints a login code as if `user` confirmed a login in that app (wx.login for a mini program),
   * with the OAuth scope given (an official account's snsapi_base) or the app's default.
   */
  code(appid: string, user: string, scope?: string): Promise<string>;
  /** Paths of the WeChat API calls the emulator has seen since its last reset. */
  wechatCalls(): Promise<string[]>;
}

export function emulatorControl(emulatorUrl: string): EmulatorControl {
  const post = async <T>(path: string, body: unknown): Promise<T> => {
    const response = await fetch(`${emulatorUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`emulator ${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  };
  return {
    post,
    code: async (appid, user, scope) =>
      (
        await post<{ code: string }>('/__emulator/codes', {
          appid,
          user,
          ...(scope !== undefined && { scope }),
        })
      ).code,
    async wechatCalls() {
      const { requests } = (await (await fetch(`${emulatorUrl}/__emulator/requests`)).json()) as {
        requests: { path: string }[];
      };
      return requests.map((r) => r.path).filter((p) => !p.startsWith('/connect/'));
    },
  };
}

/**
 * The apps of the emulator's own tests (test/emulator-*.test.ts): one of each kind, and a second
 * mini program not bound to the Open Platform. Each secret is `${appid without "wx"}-secret`.
 */
export const EMULATOR_TEST_APPS: EmulatorApp[] = [
  { appid: 'wxweb', secret: 'web-secret', kind: 'web', bound: true },
  { appid: 'wxapp', secret: 'app-secret', kind: 'app', bound: true },
  { appid: 'wxmini', secret: 'mini-secret', kind: 'mini', bound: true },
  { appid: 'wxmini2', secret: 'mini2-secret', kind: 'mini', bound: false },
  { appid: 'wxoa', secret: 'oa-secret', kind: 'official', bound: true },
];

/** A JSON answer of the emulator, as the tests read it. */
export type Body = Record<string, unknown>;

/** WeChat's API and the control API of one emulator, called raw (answers as they come), as its own tests do. */
export interface EmulatorCalls {
  /** A GET that must answer 200 (WeChat answers its errors with 200 too). */
  get(path: string, query?: Record<string, string>): Promise<Body>;
  post(path: string, body: unknown, query?: Record<string, string>): Promise<Body>;
  /** Mints a login code of `user` in that app, with the scope given or the app's default. */
  code(appid: string, user: string, scope?: string): Promise<string>;
  /** jscode2session with the app's secret unless told another. */
  jscode(appid: string, js_code: string, secret?: string): Promise<Body>;
  /** /sns/oauth2/access_token with the app's secret unless told another. */
  oauth(appid: string, c: string, secret?: string): Promise<Body>;
  /** wxmini's stable_token, as getuserphonenumber takes it. */
  miniStableToken(): Promise<string>;
  /** getuserphonenumber with a fresh phone code of alice in wxmini and this app access token. */
  phoneNumber(accessToken: string, options?: Record<string, unknown>): Promise<Body>;
}

/** The calls of EmulatorCalls to the emulator at `url()` (read at each call: it starts in beforeAll). */
export function emulatorCalls(url: () => string): EmulatorCalls {
  async function get(path: string, query: Record<string, string> = {}): Promise<Body> {
    const response = await fetch(`${url()}${path}?${new URLSearchParams(query)}`);
    expect(response.status).toBe(200);
    return JSON.parse(await response.text()) as Body;
  }

  async function post(path: string, body: unknown, query: Record<string, string> = {}): Promise<Body> {
    const response = await fetch(`${url()}${path}?${new URLSearchParams(query)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return JSON.parse(await response.text()) as Body;
  }

  async function code(appid: string, user: string, scope?: string): Promise<string> {
    return (await post('/__emulator/codes', { appid, user, ...(scope ? { scope } : {}) })).code as string;
  }

  const jscode = (appid: string, js_code: string, secret = `${appid.slice(2)}-secret`) =>
    get('/sns/jscode2session', { appid, secret, js_code, grant_type: 'authorization_code' });
  const oauth = (appid: string, c: string, secret = `${appid.slice(2)}-secret`) =>
    get('/sns/oauth2/access_token', { appid, secret, code: c, grant_type: 'authorization_code' });

  async function miniStableToken(): Promise<string> {
    const body = await post('/cgi-bin/stable_token', {
      grant_type: 'client_credential',
      appid: 'wxmini',
      secret: 'mini-secret',
    });
    return body.access_token as string;
  }

  async function phoneNumber(accessToken: string, options: Record<string, unknown> = {}): Promise<Body> {
    const { code: c } = await post('/__emulator/phone-codes', { appid: 'wxmini', user: 'alice', ...options });
    return post('/wxa/business/getuserphonenumber', { code: c }, { access_token: accessToken });
  }

  return { get, post, code, jscode, oauth, miniStableToken, phoneNumber };
}

/** A WeChat error answer: this errcode, and an errmsg ending in a rid as WeChat's do. */
export function expectError(body: Body, errcode: number): void {
  expect(body.errcode).toBe(errcode);
  expect(body.errmsg).toMatch(/, rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$/);
}
