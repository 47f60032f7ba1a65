/// <reference lib="dom" />
import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import { DEMO_APPS } from '../src/emulator/apps.js';
import { createClient } from '../test/support/client.js';
import { freePort } from '../test/support/process.js';
import { launchChromium } from './support/chromium.js';
import { startAsNpmStart, type NpmStartServer } from './support/npm-start.js';

/**
 * A relying party on another origin signs people in through the server's OpenID Connect provider,
 * in Chromium: the sign-in page, WeChat's (the emulator's) QR page or the mini program on a phone,
 * back to the relying party with a verified ID token, a refresh, and logout.
 */
const ARTIFACTS = path.resolve('test-artifacts');
const WEB = DEMO_APPS.find((app) => app.kind === 'web')!;
const MINI = DEMO_APPS.find((app) => app.kind === 'mini')!;

let started: NpmStartServer;
let issuer: string;
let rp: Server;
let rpUrl: string;
let browser: Browser;

/** The relying party: openid-client behind three routes, as a web app would use it. */
async function startRelyingParty(port: number): Promise<Server> {
  const redirectUri = `${rpUrl}/callback`;
  const config = await oidc.discovery(
    new URL(issuer),
    'rp-demo',
    'rp-demo-secret-0123456789abcdefghij',
    undefined,
    {
      execute: [oidc.allowInsecureRequests],
    },
  );
  const pending = new Map<string, { verifier: string; nonce: string }>();
  const server = createServer((request, response) => {
    const url = new URL(request.url!, rpUrl);
    const page = (body: string) => {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end(
        `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>RP Demo</title>${body}`,
      );
    };
    (async () => {
      if (url.pathname === '/login') {
        const verifier = oidc.randomPKCECodeVerifier();
        const state = oidc.randomState();
        const nonce = oidc.randomNonce();
        pending.set(state, { verifier, nonce });
        const to = oidc.buildAuthorizationUrl(config, {
          redirect_uri: redirectUri,
          scope: 'openid profile offline_access',
          prompt: 'consent',
          code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
          state,
          nonce,
        });
        response.writeHead(302, { location: to.href }).end();
      } else if (url.pathname === '/callback') {
        const state = url.searchParams.get('state') ?? '';
        const kept = pending.get(state)!;
        const tokens = await oidc.authorizationCodeGrant(config, url, {
          pkceCodeVerifier: kept.verifier,
          expectedState: state,
          expectedNonce: kept.nonce,
        });
        const claims = tokens.claims()!;
        const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
        const logout = oidc.buildEndSessionUrl(config, {
          id_token_hint: tokens.id_token!,
          post_logout_redirect_uri: `${rpUrl}/signed-out`,
        });
        page(
          `<p id="sub">${claims.sub}</p><p id="name">${String(claims.name ?? '')}</p>` +
            `<p id="refreshed">${refreshed.claims()!.sub === claims.sub ? 'yes' : 'no'}</p>` +
            `<a id="logout" href="${logout.href}">Log out</a>`,
        );
      } else if (url.pathname === '/signed-out') {
        page('<p id="signed-out">Signed out</p>');
      } else {
        response.writeHead(404).end();
      }
    })().catch((error: unknown) => {
      response.writeHead(500, { 'content-type': 'text/plain' }).end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

beforeAll(async () => {
  const [port, rpPort] = [await freePort(), await freePort()];
  issuer = `http://127.0.0.1:${port}`;
  rpUrl = `http://127.0.0.1:${rpPort}`;
  started = await startAsNpmStart(
    {
      PUBLIC_URL: issuer,
      OIDC_CLIENTS: JSON.stringify([
        {
          clientId: 'rp-demo',
          clientSecret: 'rp-demo-secret-0123456789abcdefghij',
          redirectUris: [`http://127.0.0.1:${rpPort}/callback`],
          postLogoutRedirectUris: [`http://127.0.0.1:${rpPort}/signed-out`],
          name: 'RP Demo',
          firstParty: true,
        },
      ]),
    },
    { port },
  );
  rp = await startRelyingParty(rpPort);
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => rp?.close(resolve));
  await started?.stop();
});

/** Every answer of 400 or more, failed request and console error (a CSP refusal is one). */
function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`${response.status()} ${response.url()}`);
  });
  page.on('requestfailed', (request) => problems.push(`${request.failure()?.errorText} ${request.url()}`));
  page.on('console', (message) => {
    // WeChat's page is not ours (the emulator's has no icon).
    if (message.location().url === `${started.emulatorUrl}/favicon.ico`) return;
    if (message.type() === 'error') problems.push(`console: ${message.text()} ${message.location().url}`);
  });
  return problems;
}

async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, name), fullPage: true });
}

const client = () =>
  createClient({
    url: started.server.url,
    emulatorUrl: started.emulatorUrl,
    appids: { web: WEB.appid, mini: MINI.appid },
  });

describe('a relying party on another origin, through the OpenID Connect provider, in Chromium', () => {
  it('signs Alice in through the website QR: her user id as sub, a refresh, then logout', async () => {
    const context = await browser.newContext({ locale: 'en-US' });
    const page = await context.newPage();
    const problems = watchProblems(page);
    await page.goto(`${rpUrl}/login`);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(page.url()).toMatch(new RegExp(`^${issuer}/oidc/interaction/`));
    expect(await page.locator('.lead').textContent()).toBe('Sign in to continue to RP Demo');
    await screenshot(page, 'oidc-sign-in.png');
    await page.getByRole('link', { name: /Scan with WeChat/ }).click();
    await page.getByLabel(/Alice/).check();
    await page.getByRole('button', { name: 'Confirm login' }).click();
    await page.locator('#sub').waitFor();
    expect(page.url().startsWith(`${rpUrl}/callback?`)).toBe(true);
    const alice = await client().loginAs('web', 'alice');
    expect(await page.locator('#sub').textContent()).toBe(alice.user.id);
    expect(await page.locator('#name').textContent()).toBe('Alice');
    expect(await page.locator('#refreshed').textContent()).toBe('yes');

    await page.locator('#logout').click();
    await page.getByRole('heading', { name: 'Sign out' }).waitFor();
    expect(await page.locator('.lead').textContent()).toBe('Sign out of RP Demo?');
    await screenshot(page, 'oidc-sign-out.png');
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.locator('#signed-out').waitFor();
    expect(problems).toEqual([]);
    await context.close();
  });

  it('signs Bob in with the mini program code, in Chinese, as his mini program account', async () => {
    const context = await browser.newContext({ locale: 'zh-CN' });
    const page = await context.newPage();
    const problems = watchProblems(page);
    await page.goto(`${rpUrl}/login`);
    await page.getByRole('heading', { name: '登录' }).waitFor();
    await page.getByRole('button', { name: /小程序码登录/ }).click();
    await page.locator('#ticket-state', { hasText: '请用微信扫描二维码' }).waitFor();
    await page.waitForFunction(
      () => (document.getElementById('ticket-code') as HTMLImageElement).naturalWidth > 0,
    );
    expect(await page.locator('#ticket-code').getAttribute('src')).toMatch(/^data:image\/png;base64,/);
    expect(await page.locator('#choices').isHidden()).toBe(true);
    await screenshot(page, 'oidc-mini-program-code.png');

    const { scenes } = (await (await fetch(`${started.emulatorUrl}/__emulator/scenes`)).json()) as {
      scenes: { scene: string }[];
    };
    const phoneContext = await browser.newContext({ viewport: { width: 420, height: 820 } });
    const phone = await phoneContext.newPage();
    const query = new URLSearchParams({
      appid: MINI.appid,
      scene: scenes[0]!.scene,
      server: `${started.server.url}/graphql`,
    });
    await phone.goto(`${started.emulatorUrl}/__emulator/phone?${query}`);
    await phone.locator('#user').fill('bob');
    const login = phone.waitForResponse((response) =>
      (response.request().postData() ?? '').includes('wechatMiniLogin'),
    );
    await phone.locator('#scan').click();
    const { data } = (await (await login).json()) as { data: { wechatMiniLogin: { user: { id: string } } } };
    await phone.locator('#status[data-state=asking]').waitFor();
    await page.locator('#ticket-state', { hasText: '已扫码，请在手机上确认' }).waitFor();
    await phone.locator('#confirm').click();

    await page.locator('#sub').waitFor();
    expect(await page.locator('#sub').textContent()).toBe(data.wechatMiniLogin.user.id);
    expect(problems).toEqual([]);
    await phoneContext.close();
    await context.close();
  });
});
