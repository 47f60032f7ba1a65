import { expect } from '@jest/globals';
import * as oidc from 'openid-client';
import type { Client } from './client.js';
import type { EmulatorControl } from './emulator.js';

/**
 * A browser as far as the OpenID Connect flow needs one: it keeps cookies (one jar for every
 * origin it visits, enough here: names differ) and follows nothing by itself, so each step's
 * answer can be looked at.
 */
export class TestBrowser {
  private readonly jar = new Map<string, string>();

  constructor(private readonly headers: Record<string, string> = {}) {}

  async request(
    url: string,
    init: { method?: string; headers?: Record<string, string>; form?: Record<string, string> } = {},
  ) {
    const cookie = [...this.jar].map(([name, value]) => `${name}=${value}`).join('; ');
    const response = await fetch(url, {
      method: init.method ?? 'GET',
      redirect: 'manual',
      headers: {
        ...this.headers,
        ...(cookie && { cookie }),
        ...(init.form && { 'content-type': 'application/x-www-form-urlencoded' }),
        ...init.headers,
      },
      ...(init.form && { body: new URLSearchParams(init.form).toString() }),
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const at = pair.indexOf('=');
      const name = pair.slice(0, at).trim();
      const value = pair.slice(at + 1).trim();
      if (/max-age=0/i.test(line) || value === '') this.jar.delete(name);
      else this.jar.set(name, value);
    }
    return { status: response.status, location: response.headers.get('location'), response };
  }

  /** A GET that must redirect: where to. */
  async redirected(url: string, from?: string): Promise<string> {
    const answer = await this.request(from ? new URL(url, from).href : url);
    if (answer.status < 300 || answer.status > 399 || !answer.location) {
      throw new Error(`${url}: expected a redirect, got ${answer.status}: ${await answer.response.text()}`);
    }
    return new URL(answer.location, from ?? url).href;
  }

  /**
   * Follows redirects from `url` while they stay on its origin: the first page that answers
   * (a sign-in or consent page) or the first URL elsewhere (the relying party's redirect URI).
   */
  async follow(url: string): Promise<string> {
    let at = url;
    for (let hops = 0; hops < 10; hops++) {
      const answer = await this.request(at);
      if (answer.status < 300 || answer.status > 399 || !answer.location) return at;
      const next = new URL(answer.location, at);
      if (next.origin !== new URL(url).origin) return next.href;
      at = next.href;
    }
    throw new Error(`${url}: more than 10 redirects`);
  }

  forget(name: string) {
    this.jar.delete(name);
  }
}

/** A relying party as openid-client sees it, with what it keeps for one authorization request. */
export interface RelyingParty {
  config: oidc.Configuration;
  redirectUri: string;
  /** A new authorization request: its URL, and the verifier and state to check the answer with. */
  start(options?: { scope?: string; prompt?: string; pkce?: boolean }): Promise<{
    url: string;
    verifier: string;
    state: string;
    nonce: string;
  }>;
  /** The code in `callback` exchanged (PKCE verifier and state checked) for tokens. */
  finish(
    callback: string,
    request: { verifier: string; state: string; nonce: string },
  ): Promise<oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers>;
}

/** openid-client discovering our issuer, as a client of ours (plain http: it is a test). */
export async function relyingParty(
  issuer: string,
  client: { clientId: string; clientSecret?: string; redirectUri: string; basic?: boolean },
): Promise<RelyingParty> {
  const config = await oidc.discovery(
    new URL(issuer),
    client.clientId,
    client.clientSecret,
    client.clientSecret === undefined
      ? oidc.None()
      : client.basic === false
        ? oidc.ClientSecretPost(client.clientSecret)
        : oidc.ClientSecretBasic(client.clientSecret),
    { execute: [oidc.allowInsecureRequests] },
  );
  return {
    config,
    redirectUri: client.redirectUri,
    async start(options = {}) {
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const nonce = oidc.randomNonce();
      const parameters: Record<string, string> = {
        redirect_uri: client.redirectUri,
        scope: options.scope ?? 'openid profile',
        state,
        nonce,
        ...(options.prompt !== undefined && { prompt: options.prompt }),
      };
      if (options.pkce !== false) {
        parameters.code_challenge = await oidc.calculatePKCECodeChallenge(verifier);
        parameters.code_challenge_method = 'S256';
      }
      return { url: oidc.buildAuthorizationUrl(config, parameters).href, verifier, state, nonce };
    },
    async finish(callback, request) {
      return oidc.authorizationCodeGrant(config, new URL(callback), {
        pkceCodeVerifier: request.verifier,
        expectedState: request.state,
        expectedNonce: request.nonce,
      });
    },
  };
}

/**
 * A person at the sign-in page choosing the website QR login: to WeChat (the emulator's page),
 * back with a code as `person` confirmed it, and on through the provider. Answers where the browser
 * ends up: a page of ours (the consent page) or the relying party's redirect URI.
 */
export async function signInWithWebQr(
  browser: TestBrowser,
  interactionUrl: string,
  emulator: EmulatorControl,
  webAppId: string,
  person: string,
  /** `official`: inside WeChat, through the Official Account's authorization page instead. */
  platform: 'web' | 'official' = 'web',
): Promise<string> {
  const toWechat = await browser.redirected(`${interactionUrl}/wechat/${platform}`);
  const wechat = new URL(toWechat);
  expect(wechat.pathname).toBe(platform === 'web' ? '/connect/qrconnect' : '/connect/oauth2/authorize');
  const redirectUri = wechat.searchParams.get('redirect_uri')!;
  const state = wechat.searchParams.get('state')!;
  const code = await emulator.code(webAppId, person);
  const back = `${redirectUri}?code=${encodeURIComponent(code)}&state=${encodeURIComponent(state)}`;
  return browser.follow(await browser.redirected(back));
}

/**
 * A person at the sign-in page choosing the mini program code (`mini`) or the Official Account
 * follow (`follow`): the page makes a ticket, the person scans and confirms it in the mini program
 * or follows the account (`confirm`), the page's next poll finishes the sign-in. Answers where the
 * browser ends up, as signInWithWebQr does.
 */
export async function signInWithTicket(
  browser: TestBrowser,
  interactionUrl: string,
  origin: string,
  c: Client,
  kind: 'mini' | 'follow',
  confirm: (scene: string) => Promise<void>,
): Promise<string> {
  const created = await browser.request(`${interactionUrl}/ticket?kind=${kind}`, {
    method: 'POST',
    headers: { origin },
  });
  expect(created.status).toBe(200);
  const ticket = (await created.response.json()) as { id: string; secret: string; qrCode: string };
  expect(ticket.qrCode).toMatch(/^data:image\/png;base64,/);
  const [row] = await c.sql<{ scene: string }>('select scene from login_ticket where id = ?', [ticket.id]);
  const poll = async () => {
    const answer = await browser.request(`${interactionUrl}/ticket/${ticket.id}`, {
      method: 'POST',
      headers: { origin, 'x-ticket-secret': ticket.secret },
    });
    expect(answer.status).toBe(200);
    return (await answer.response.json()) as { state: string; redirect?: string };
  };
  expect((await poll()).state).toBe('WAITING');
  await confirm(row!.scene);
  const done = await poll();
  expect(done.state).toBe('CONFIRMED');
  return browser.follow(done.redirect!);
}
