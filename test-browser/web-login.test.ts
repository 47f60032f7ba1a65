/// <reference lib="dom" />
import { mkdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import { freePort, type ServerProcess } from '../test/support/process.js';
import { launchChromium } from './support/chromium.js';
import { startAsNpmStart, type NpmStartServer } from './support/npm-start.js';

const ARTIFACTS = path.resolve('test-artifacts');

let started: NpmStartServer;
let server: ServerProcess;
let emulatorUrl: string;
let browser: Browser;

beforeAll(async () => {
  // npm start's defaults, the example page built as it builds it; short access tokens, so the
  // page's refresh happens within the test.
  started = await startAsNpmStart({ ACCESS_TOKEN_TTL_SECONDS: '6' }, { buildExample: true });
  ({ server, emulatorUrl } = started);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await started?.stop();
});

/** Opens the example page in a fresh browser context (its own sessionStorage). */
async function openExample(): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${server.url}/examples/web/`);
  return page;
}

/** Every answer of 400 or more, and every request that failed, while the page is open. */
function watchFailures(page: Page): string[] {
  const failures: string[] = [];
  page.on('response', (response) => {
    if (response.status() >= 400) failures.push(`${response.status()} ${response.url()}`);
  });
  page.on('requestfailed', (request) => {
    failures.push(`${request.failure()?.errorText ?? 'failed'} ${request.url()}`);
  });
  return failures;
}

/** The avatar once the browser is done with it: loaded (naturalWidth > 0) or broken (0). */
async function avatarState(page: Page): Promise<{ src: string; complete: boolean; naturalWidth: number }> {
  const avatar = page.locator('#avatar');
  await page.waitForFunction(() => (document.getElementById('avatar') as HTMLImageElement).complete);
  return avatar.evaluate((img: HTMLImageElement) => ({
    src: img.src,
    complete: img.complete,
    naturalWidth: img.naturalWidth,
  }));
}

/** Presses the button and lands on the emulator's QR login page. */
async function toQrPage(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Log in with WeChat' }).click();
  await page.getByRole('button', { name: 'Confirm login' }).waitFor();
}

/**
 * On the QR page: confirms as its form would, as `user`, but returns WeChat's redirect back
 * (the callback URL with code and state) instead of following it.
 */
async function confirmWithoutFollowing(page: Page, user: string): Promise<string> {
  const form = Object.fromEntries(
    await page
      .locator('form input[type=hidden]')
      .evaluateAll((inputs) => (inputs as HTMLInputElement[]).map((input) => [input.name, input.value])),
  ) as Record<string, string>;
  const confirm = await fetch(new URL('/connect/confirm', page.url()), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...form, user, action: 'confirm' }),
    redirect: 'manual',
  });
  return confirm.headers.get('location')!;
}

describe('the example web page, in Chromium, against npm start’s defaults', () => {
  let firstUserId: string;

  it('logs in through the QR page and shows the user, with the avatar the emulator serves', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const failures = watchFailures(page);
    await page.goto(`${server.url}/examples/web/`);
    // The page's icon is inline, so browsers ask for no /favicon.ico (headless Chromium never asks
    // for one, so the 404 watch alone could not tell): it must be an image this page may show.
    const icon = await page.evaluate(async () => {
      const href = document.querySelector('link[rel=icon]')?.getAttribute('href') ?? '';
      const image = new Image();
      image.src = href;
      await image.decode().catch(() => undefined);
      return { href, naturalWidth: image.naturalWidth };
    });
    expect(icon.href).toMatch(/^data:image\/svg\+xml,/);
    expect(icon.naturalWidth).toBeGreaterThan(0);
    await toQrPage(page);
    expect(page.url()).toContain('/connect/qrconnect?appid=');
    await page.getByLabel(/Alice/).check();
    await page.getByRole('button', { name: 'Confirm login' }).click();
    await page.locator('#nickname').waitFor({ state: 'visible' });
    expect(await page.locator('#nickname').textContent()).toBe('Alice');
    // Offline too: the avatar comes from the emulator (another origin), not from WeChat's CDN.
    const avatar = await avatarState(page);
    expect(avatar).toMatchObject({ src: `${emulatorUrl}/__emulator/avatars/alice.svg`, complete: true });
    expect(avatar.naturalWidth).toBeGreaterThan(0);
    await page.locator('#status', { hasText: 'Welcome! Your account was created.' }).waitFor();
    expect(await page.locator('#methods tr').count()).toBe(1);
    expect(await page.locator('#methods td').first().textContent()).toBe('WECHAT_WEB');
    firstUserId = (await page.locator('#user-id').textContent())!;
    expect(firstUserId).toMatch(/^[0-9a-f-]{36}$/);
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'web-login.png'), fullPage: true });

    await page.getByRole('button', { name: 'Log out' }).click();
    await page.locator('#status', { hasText: 'Logged out.' }).waitFor();
    expect(failures).toEqual([]);
    await page.context().close();
  });

  it('logs the same person in again as the same user', async () => {
    const page = await openExample();
    await toQrPage(page);
    await page.getByLabel(/Alice/).check();
    await page.getByRole('button', { name: 'Confirm login' }).click();
    await page.locator('#user-id').waitFor({ state: 'visible' });
    expect(await page.locator('#user-id').textContent()).toBe(firstUserId);
    await page.locator('#status', { hasText: 'Welcome back!' }).waitFor();
    await page.context().close();
  });

  it('refreshes the session before the access token expires', async () => {
    const page = await openExample();
    await toQrPage(page);
    await page.getByLabel(/Bob/).check();
    await page.getByRole('button', { name: 'Confirm login' }).click();
    await page.locator('#nickname', { hasText: 'Bob' }).waitFor();
    const before = await page.locator('#expires').textContent();
    const refreshed = page.waitForResponse(async (response) =>
      (response.request().postData() ?? '').includes('RefreshSession'),
    );
    const response = await refreshed;
    expect(((await response.json()) as { errors?: unknown }).errors).toBeUndefined();
    await page.waitForFunction((old) => document.getElementById('expires')!.textContent !== old, before);
    expect(await page.locator('#nickname').textContent()).toBe('Bob');
    // The refreshed access token works: a reload asks `me` with it and stays signed in.
    await page.reload();
    await page.locator('#nickname', { hasText: 'Bob' }).waitFor();
    await page.context().close();
  });

  it('says so when the person cancels on the QR page', async () => {
    const page = await openExample();
    await toQrPage(page);
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.waitForURL(/\/examples\/web\/$/);
    await page.locator('#status', { hasText: 'Login cancelled on the WeChat page.' }).waitFor();
    expect(await page.locator('#profile').isHidden()).toBe(true);
    await page.context().close();
  });

  it('shows INVALID_STATE when the state in the URL was tampered with', async () => {
    const page = await openExample();
    await toQrPage(page);
    const callback = await confirmWithoutFollowing(page, 'alice');
    const url = new URL(callback);
    const state = url.searchParams.get('state')!;
    const forged = state.slice(0, -3) + (state.endsWith('AAA') ? 'BBB' : 'AAA');

    // In the browser: the URL's state is not the one this browser started with.
    url.searchParams.set('state', forged);
    await page.goto(url.toString());
    await page.locator('#status.error').waitFor();
    expect(await page.locator('#status').textContent()).toMatch(/^INVALID_STATE/);

    // And at the server: a forged state that the browser was tricked into keeping.
    await page.evaluate((s) => sessionStorage.setItem('wechat-login:state', s), forged);
    await page.goto(url.toString());
    await page.locator('#status.error').waitFor();
    expect(await page.locator('#status').textContent()).toMatch(/^INVALID_STATE: Invalid login state/);
    expect(await page.locator('#profile').isHidden()).toBe(true);
    await page.context().close();
  });
});

interface GraphQLAnswer<T> {
  data?: T;
  errors?: { message: string; extensions: { code: string } }[];
}

/** A GraphQL request from the test itself (not the page), with a bearer token the page had. */
async function gql<T>(
  query: string,
  variables: Record<string, unknown> = {},
  accessToken?: string,
): Promise<GraphQLAnswer<T>> {
  const response = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(accessToken ? { authorization: `Bearer ${accessToken}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as GraphQLAnswer<T>;
}

const ME = 'query { me { id loginMethods { kind } } }';

/** The session the page keeps in sessionStorage (null once it forgot it). */
function storedSession(page: Page): Promise<{ accessToken: string; refreshToken: string } | null> {
  return page.evaluate(() => JSON.parse(sessionStorage.getItem('wechat-login:session') ?? 'null'));
}

/** Logs `user` (any emulator person, made on first use) in through the page; returns the user id. */
async function loginAs(page: Page, user: string): Promise<string> {
  await toQrPage(page);
  await page.goto(await confirmWithoutFollowing(page, user));
  await page.locator('#user-id').waitFor({ state: 'visible' });
  return (await page.locator('#user-id').textContent())!;
}

describe('the example page’s account buttons: unlink and delete', () => {
  it('unlinks a login method, and says why the only one stays', async () => {
    const page = await openExample();
    const userId = await loginAs(page, 'carol');
    await page.locator('#status', { hasText: 'Welcome! Your account was created.' }).waitFor();

    // The only login method: the server refuses, the page says what to do instead.
    await page.locator('#methods tr').getByRole('button', { name: 'Unlink' }).click();
    await page.locator('#status.error').waitFor();
    expect(await page.locator('#status').textContent()).toBe(
      'This is your only way to sign in: link another one first, or delete the account.',
    );
    expect(await page.locator('#methods tr').count()).toBe(1);

    // A second one, linked over the API (a mini program login code of the same person); the page
    // shows it after a reload (`me`), and its Unlink removes exactly that one.
    const { accessToken } = (await storedSession(page))!;
    const { code } = (await (
      await fetch(`${emulatorUrl}/__emulator/codes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ appid: 'wxdemomini000000001', user: 'carol' }),
      })
    ).json()) as { code: string };
    const linked = await gql<{ linkWechatIdentity: { id: string } }>(
      'mutation ($input: LinkWechatIdentityInput!) { linkWechatIdentity(input: $input) { id } }',
      { input: { kind: 'WECHAT_MINI', code } },
      accessToken,
    );
    expect(linked.errors).toBeUndefined();
    expect(linked.data!.linkWechatIdentity.id).toBe(userId);
    await page.reload();
    await page.locator('#methods tr', { hasText: 'WECHAT_MINI' }).waitFor();
    expect(await page.locator('#methods tr').count()).toBe(2);

    await page
      .locator('#methods tr', { hasText: 'WECHAT_MINI' })
      .getByRole('button', { name: 'Unlink' })
      .click();
    await page.locator('#status', { hasText: 'Unlinked wxdemomini000000001.' }).waitFor();
    expect(await page.locator('#methods td:first-child').allTextContents()).toEqual(['WECHAT_WEB']);
    const me = await gql<{ me: { id: string; loginMethods: { kind: string }[] } }>(
      ME,
      {},
      (await storedSession(page))!.accessToken,
    );
    expect(me.data!.me).toEqual({ id: userId, loginMethods: [{ kind: 'WECHAT_WEB' }] });
    await page.context().close();
  });

  it('deletes the account only once confirmed, ends its session, and the next login is a new user', async () => {
    const page = await openExample();
    const failures = watchFailures(page);
    const userId = await loginAs(page, 'dave');
    const confirm = page.getByRole('button', { name: 'Yes, delete my account for good' });

    // Asked, then cancelled: nothing happened, in the page or on the server.
    await page.getByRole('button', { name: 'Delete my account' }).click();
    await confirm.waitFor();
    await page.getByRole('button', { name: 'Cancel' }).click();
    await confirm.waitFor({ state: 'hidden' });
    expect(await page.locator('#profile').isVisible()).toBe(true);
    expect(await page.locator('#user-id').textContent()).toBe(userId);
    const before = await gql<{ me: { id: string } }>(ME, {}, (await storedSession(page))!.accessToken);
    expect(before.data!.me.id).toBe(userId);

    // Asked again, confirmed. The session as the page had it just before.
    await page.getByRole('button', { name: 'Delete my account' }).click();
    const session = (await storedSession(page))!;
    await confirm.click();
    await page.locator('#status', { hasText: 'Your account was deleted.' }).waitFor();
    expect(await page.locator('#profile').isHidden()).toBe(true);
    expect(await page.getByRole('button', { name: 'Log in with WeChat' }).isVisible()).toBe(true);
    expect(await storedSession(page)).toBeNull();

    // Ended on the server: the access token is refused before it expires (it lives 6 s here)...
    const after = await gql<{ me: unknown }>(ME, {}, session.accessToken);
    const { exp } = JSON.parse(Buffer.from(session.accessToken.split('.')[1]!, 'base64url').toString()) as {
      exp: number;
    };
    expect(Date.now()).toBeLessThan(exp * 1000);
    expect(after.errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');
    // ...and so is the refresh token.
    const refresh = await gql<unknown>(
      'mutation ($t: String!) { refreshSession(refreshToken: $t) { accessToken } }',
      { t: session.refreshToken },
    );
    expect(refresh.errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');

    // The same WeChat person again: a new account.
    const newId = await loginAs(page, 'dave');
    await page.locator('#status', { hasText: 'Welcome! Your account was created.' }).waitFor();
    expect(newId).toMatch(/^[0-9a-f-]{36}$/);
    expect(newId).not.toBe(userId);
    expect(failures).toEqual([]);
    await page.context().close();
  });
});

/**
 * The example page as a separate frontend would serve it: from its own origin
 * (http://localhost:<port>), calling the API on another (http://127.0.0.1:<port>) through CORS.
 */
async function serveFrontend(apiUrl: string): Promise<{ origin: string; close(): Promise<void> }> {
  const root = path.resolve('examples/web');
  const index = (await readFile(path.join(root, 'index.html'), 'utf8')).replace(
    '<meta name="graphql-url" content="/graphql" />',
    `<meta name="graphql-url" content="${apiUrl}/graphql" />`,
  );
  const frontend: Server = createServer((request, response) => {
    const url = new URL(request.url!, 'http://frontend');
    if (url.pathname === '/') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(index);
      return;
    }
    if (/^\/dist\/([\w-]+\/)*[\w.-]+\.js$/.test(url.pathname) && !url.pathname.includes('..')) {
      void readFile(path.join(root, url.pathname)).then(
        (js) => response.writeHead(200, { 'content-type': 'text/javascript' }).end(js),
        () => response.writeHead(404).end(),
      );
      return;
    }
    response.writeHead(404).end();
  });
  const port = await freePort();
  await new Promise<void>((resolve) => frontend.listen(port, 'localhost', resolve));
  return {
    origin: `http://localhost:${port}`,
    close: () => new Promise((resolve) => frontend.close(() => resolve())),
  };
}

describe('the example page’s sessions', () => {
  it('lists the person’s devices, and signs another one out', async () => {
    const laptop = await openExample();
    const userId = await loginAs(laptop, 'erin');
    // The same person on a second device, with a user agent of its own.
    const phoneAgent = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1';
    const phone = await (await browser.newContext({ userAgent: phoneAgent })).newPage();
    await phone.goto(`${server.url}/examples/web/`);
    expect(await loginAs(phone, 'erin')).toBe(userId);
    const phoneSession = (await storedSession(phone))!;

    await laptop.reload();
    const rows = laptop.locator('#sessions tr');
    await rows.nth(1).waitFor();
    expect(await rows.count()).toBe(2);
    const current = rows.filter({ hasText: 'this device' });
    expect(await current.count()).toBe(1);
    expect(await current.locator('td').first().textContent()).toContain('HeadlessChrome');
    const other = rows.filter({ hasText: phoneAgent });
    // A network, never the address.
    expect(await other.locator('td').nth(1).textContent()).toBe('127.0.0.0/24');

    await other.getByRole('button', { name: 'Sign out that device' }).click();
    await laptop.locator('#status', { hasText: 'That device was signed out.' }).waitFor();
    expect(await rows.count()).toBe(1);
    expect(await rows.first().textContent()).toContain('this device');
    const signedOut = await gql(ME, {}, phoneSession.accessToken);
    expect(signedOut.errors![0]!.extensions.code).toBe('UNAUTHENTICATED');
    await phone.context().close();
    await laptop.context().close();
  });
});

describe('the example page served from another origin than the API', () => {
  let frontend: Awaited<ReturnType<typeof serveFrontend>>;
  beforeAll(async () => {
    frontend = await serveFrontend(server.url);
  });
  afterAll(async () => {
    await frontend?.close();
  });

  it('logs in end to end through CORS, and logs out with the refresh token', async () => {
    expect(new URL(frontend.origin).host).not.toBe(new URL(server.url).host);
    const context = await browser.newContext();
    const page = await context.newPage();
    const corsAnswers: string[] = [];
    page.on('response', (response) => {
      if (response.url().startsWith(`${server.url}/graphql`)) {
        corsAnswers.push(response.headers()['access-control-allow-origin'] ?? 'none');
      }
    });
    await page.goto(`${frontend.origin}/`);
    await toQrPage(page);
    await page.getByLabel(/Bob/).check();
    await page.getByRole('button', { name: 'Confirm login' }).click();
    await page.locator('#nickname', { hasText: 'Bob' }).waitFor();
    expect(page.url()).toBe(`${frontend.origin}/`);
    expect((await avatarState(page)).naturalWidth).toBeGreaterThan(0);
    await page.locator('#status', { hasText: /Welcome/ }).waitFor();
    expect(corsAnswers.length).toBeGreaterThanOrEqual(2);
    expect(new Set(corsAnswers)).toEqual(new Set([frontend.origin]));

    const { refreshToken } = (await page.evaluate(() =>
      JSON.parse(sessionStorage.getItem('wechat-login:session')!),
    )) as { refreshToken: string };
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.locator('#status', { hasText: 'Logged out.' }).waitFor();
    // The session really ended on the server, not only in the page.
    const refresh = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        query: 'mutation ($t: String!) { refreshSession(refreshToken: $t) { accessToken } }',
        variables: { t: refreshToken },
      }),
    });
    const body = (await refresh.json()) as { errors: { extensions: { code: string } }[] };
    expect(body.errors[0]!.extensions.code).toBe('UNAUTHENTICATED');
    await context.close();
  });

  it('refuses, on the server, a login link someone else started (PKCE), even when the page keeps its state', async () => {
    // The attacker starts a login in their own browser and stops at WeChat's redirect back.
    const attacker = await browser.newContext();
    const attackerPage = await attacker.newPage();
    await attackerPage.goto(`${frontend.origin}/`);
    await toQrPage(attackerPage);
    const planted = await confirmWithoutFollowing(attackerPage, 'mallory');
    await attacker.close();

    // The victim's page started a login of its own (its own verifier), then is made to accept the
    // attacker's state, as a page that skipped the state comparison would.
    const victim = await browser.newContext();
    const page = await victim.newPage();
    await page.goto(`${frontend.origin}/`);
    await toQrPage(page);
    await page.goBack();
    const plantedState = new URL(planted).searchParams.get('state')!;
    await page.evaluate((s) => sessionStorage.setItem('wechat-login:state', s), plantedState);
    await page.goto(planted);
    await page.locator('#status.error').waitFor();
    expect(await page.locator('#status').textContent()).toMatch(
      /^INVALID_STATE: .*codeVerifier does not match its codeChallenge/,
    );
    expect(await page.locator('#profile').isHidden()).toBe(true);
    await victim.close();
  });
});
