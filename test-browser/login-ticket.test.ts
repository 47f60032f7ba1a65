/// <reference lib="dom" />
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { DEMO_APPS } from '../src/emulator/apps.js';
import type { ServerProcess } from '../test/support/process.js';
import { sqlAt } from '../test/support/sql.js';
import { launchChromium } from './support/chromium.js';
import { buildExamplePage } from './support/npm-start.js';
import { startServersOnOneDatabase, type ServersOnOneDatabase } from './support/one-database.js';

const ARTIFACTS = path.resolve('test-artifacts');
const MINI_APPID = DEMO_APPS.find((app) => app.kind === 'mini')!.appid;
/** Safari on an iPhone: a phone's browser, not WeChat's (no MicroMessenger). */
const PHONE_USER_AGENT =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) ' +
  'Version/17.5 Mobile/15E148 Safari/604.1';

let shared: ServersOnOneDatabase;
/** Serves the example page and its subscription. */
let a: ServerProcess;
/** Where the phone's mini program signs in and confirms: the same database, another process. */
let b: ServerProcess;
let browser: Browser;

beforeAll(async () => {
  buildExamplePage();
  // The phone page opened from a URL Link (no server= of its own) calls B as well.
  shared = await startServersOnOneDatabase({ phoneServer: 1 });
  [a, b] = shared.servers as [ServerProcess, ServerProcess];
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await shared?.stop();
});

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

/** The operation names of the page's GraphQL POSTs, in order. */
function watchOperations(page: Page): string[] {
  const operations: string[] = [];
  page.on('request', (request) => {
    if (request.method() !== 'POST' || !request.url().endsWith('/graphql')) return;
    const { query } = request.postDataJSON() as { query: string };
    operations.push(/^\s*(?:query|mutation)\s+(\w+)/.exec(query)?.[1] ?? 'anonymous');
  });
  return operations;
}

async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, name), fullPage: true });
}

/** The example page on A, in a fresh context (its own sessionStorage). */
async function openExample(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${a.url}/examples/web/`);
  return page;
}

interface Issued {
  kind: 'code' | 'link';
  appid: string;
  scene: string;
  page: string | null;
  pngUrl?: string;
}

/** The newest code or link the emulator issued (what the phone would scan or open). */
async function newestIssued(): Promise<Issued> {
  const { scenes } = (await (await fetch(`${shared.emulator.url}/__emulator/scenes`)).json()) as {
    scenes: Issued[];
  };
  return scenes[0]!;
}

/** The emulator's phone page for a scene, calling `server`'s GraphQL: the mini program page opened. */
function phoneUrl(scene: string, server: ServerProcess): string {
  const query = new URLSearchParams({ appid: MINI_APPID, scene, server: `${server.url}/graphql` });
  return `${shared.emulator.url}/__emulator/phone?${query}`;
}

/**
 * On the phone page: `user` scans (wx.login → wechatMiniLogin → scanLoginTicket), is asked, and
 * answers. Returns who the mini program signed in, as wechatMiniLogin answered.
 */
async function scanAndAnswer(
  phone: Page,
  user: string,
  answer: 'confirm' | 'cancel',
  beforeAnswer?: () => Promise<void>,
): Promise<{ id: string; nickname: string | null }> {
  await phone.locator('#user').fill(user);
  const login = phone.waitForResponse((response) =>
    (response.request().postData() ?? '').includes('wechatMiniLogin'),
  );
  await phone.locator('#scan').click();
  const { data } = (await (await login).json()) as {
    data: { wechatMiniLogin: { user: { id: string; nickname: string | null } } };
  };
  await phone.locator('#status[data-state=asking]').waitFor();
  await beforeAnswer?.();
  await phone.locator(`#${answer}`).click();
  await phone.locator(`#status[data-state=${answer === 'confirm' ? 'signed-in' : 'cancelled'}]`).waitFor();
  return data.wechatMiniLogin.user;
}

/** The session the page keeps in sessionStorage, and the ticket it still waits for. */
function stored(page: Page): Promise<{ session: { accessToken: string } | null; ticket: unknown }> {
  return page.evaluate(() => ({
    session: JSON.parse(sessionStorage.getItem('wechat-login:session') ?? 'null'),
    ticket: JSON.parse(sessionStorage.getItem('wechat-login:ticket') ?? 'null'),
  }));
}

/** `me` on `server` with an access token. */
async function me(server: ServerProcess, accessToken: string): Promise<{ id: string } | null> {
  const response = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${accessToken}` },
    body: JSON.stringify({ query: '{ me { id } }' }),
  });
  return ((await response.json()) as { data: { me: { id: string } | null } }).data.me;
}

describe('the example page’s mini program login (login tickets), two servers on one database', () => {
  it('shows the emulator’s code on A; a phone scans and confirms on B; the page, subscribed on A, is signed in', async () => {
    const context = await browser.newContext();
    const page = await openExample(context);
    const failures = watchFailures(page);
    const operations = watchOperations(page);
    const sockets: string[] = [];
    page.on('websocket', (socket) => sockets.push(socket.url()));

    await page.getByRole('button', { name: 'Scan with WeChat (mini program)' }).click();
    await page.locator('#ticket-status[data-state=WAITING]').waitFor();
    expect(await page.locator('#ticket-status').textContent()).toBe(
      'Scan this code with WeChat. 请使用微信扫码登录',
    );
    // The code shown is the PNG the emulator drew for this ticket's scene, and it displays.
    const issued = await newestIssued();
    expect(issued).toMatchObject({ kind: 'code', appid: MINI_APPID, page: 'pages/login-ticket/index' });
    const png = Buffer.from(await (await fetch(new URL(issued.pngUrl!, shared.emulator.url))).arrayBuffer());
    expect(await page.locator('#ticket-code').getAttribute('src')).toBe(
      `data:image/png;base64,${png.toString('base64')}`,
    );
    await page.waitForFunction(() => {
      const code = document.getElementById('ticket-code') as HTMLImageElement;
      return code.complete && code.naturalWidth > 0;
    });
    expect(await page.locator('#ticket-code').isVisible()).toBe(true);
    // Development: a link to the emulator's phone page for this code, calling A (the page's server).
    const simulate = page.getByRole('link', { name: 'Simulate a phone scanning this code (emulator)' });
    expect(await simulate.getAttribute('href')).toBe(phoneUrl(issued.scene, a));
    expect(await page.getByRole('button', { name: 'Open in WeChat' }).count()).toBe(0);
    await screenshot(page, 'login-ticket-code.png');

    // The phone: the mini program page for that scene, signed in and confirming on B.
    const phoneContext = await browser.newContext({ viewport: { width: 420, height: 820 } });
    const phone = await phoneContext.newPage();
    await phone.goto(phoneUrl(issued.scene, b));
    const person = await scanAndAnswer(phone, 'alice', 'confirm', async () => {
      await page.locator('#ticket-status[data-state=SCANNED]').waitFor();
      expect(await page.locator('#ticket-status').textContent()).toBe(
        'Scanned: confirm on your phone. 已扫码，请在手机上确认',
      );
      await screenshot(phone, 'login-ticket-phone.png');
      await screenshot(page, 'login-ticket-scanned.png');
    });

    // A hands the session over on its subscription: the signed-in view, as a QR login shows it.
    await page.locator('#profile').waitFor({ state: 'visible' });
    expect(await page.locator('#user-id').textContent()).toBe(person.id);
    expect(await page.locator('#nickname').textContent()).toBe(person.nickname ?? '(no nickname)');
    expect(await page.locator('#methods td').first().textContent()).toBe('WECHAT_MINI');
    await page.locator('#status', { hasText: 'Welcome back!' }).waitFor();
    expect(await page.locator('#ticket').isHidden()).toBe(true);
    expect(await page.getByRole('button', { name: 'Scan with WeChat (mini program)' }).isHidden()).toBe(true);
    const { session, ticket } = await stored(page);
    expect(ticket).toBeNull();
    expect((await me(a, session!.accessToken))?.id).toBe(person.id);
    await screenshot(page, 'login-ticket-signed-in.png');

    // Followed over graphql-ws on A, not by polling; once signed in, the page lists the person's
    // sessions (MySessions), whenever that request is seen.
    expect(sockets).toEqual([`${a.url.replace(/^http/, 'ws')}/graphql`]);
    expect(operations.filter((name) => name !== 'MySessions')).toEqual(['CreateLoginTicket']);
    expect(failures).toEqual([]);

    // A reload stays signed in (the session kept as a QR login keeps it).
    await page.reload();
    await page.locator('#user-id', { hasText: person.id }).waitFor();
    await phoneContext.close();
    await context.close();
  });

  it('on a phone’s browser, opens WeChat with a URL Link and is signed in on coming back', async () => {
    const context = await browser.newContext({
      viewport: { width: 390, height: 844 },
      userAgent: PHONE_USER_AGENT,
      isMobile: true,
      hasTouch: true,
    });
    const page = await openExample(context);
    const open = page.getByRole('button', { name: 'Open in WeChat 在微信中打开' });
    await open.waitFor();
    expect(await page.getByRole('button', { name: 'Scan with WeChat (mini program)' }).count()).toBe(0);
    await screenshot(page, 'login-ticket-phone-browser.png');

    // To the link (the emulator's url_link: a redirect to the mini program page on the phone).
    await open.click();
    await page.waitForURL(/\/__emulator\/phone\?/);
    const opened = new URL(page.url());
    expect(opened.searchParams.get('via')).toBe('link');
    expect(opened.searchParams.get('appid')).toBe(MINI_APPID);
    const issued = await newestIssued();
    expect(issued).toMatchObject({ kind: 'link', scene: opened.searchParams.get('scene') });
    expect(await page.locator('#server').textContent()).toBe(`${b.url}/graphql`);
    const person = await scanAndAnswer(page, 'bob', 'confirm');
    await screenshot(page, 'login-ticket-phone-confirmed.png');

    // Back to the website: the ticket waited in sessionStorage; the page picks it up, signed in.
    await page.goBack();
    await page.waitForURL(`${a.url}/examples/web/`);
    await page.locator('#user-id', { hasText: person.id }).waitFor();
    expect(await page.locator('#nickname').textContent()).toBe(person.nickname ?? '(no nickname)');
    await page.locator('#status', { hasText: 'Welcome back!' }).waitFor();
    expect((await stored(page)).ticket).toBeNull();
    await screenshot(page, 'login-ticket-phone-signed-in.png');
    await context.close();
  });

  it('says so when the person cancels, offers a new code, and says when a code has expired', async () => {
    const context = await browser.newContext();
    const page = await openExample(context);
    await page.getByRole('button', { name: 'Scan with WeChat (mini program)' }).click();
    await page.locator('#ticket-status[data-state=WAITING]').waitFor();
    const first = await newestIssued();

    const phoneContext = await browser.newContext();
    const phone = await phoneContext.newPage();
    await phone.goto(phoneUrl(first.scene, b));
    await scanAndAnswer(phone, 'carol', 'cancel');
    await page.locator('#ticket-status[data-state=CANCELLED]').waitFor();
    expect(await page.locator('#ticket-status').textContent()).toBe('Cancelled on the phone. 已取消');
    expect(await page.locator('#ticket-emulator').isHidden()).toBe(true);
    expect(await page.locator('#profile').isHidden()).toBe(true);
    expect((await stored(page)).ticket).toBeNull();

    // A new code: another ticket, another scene.
    await page.getByRole('button', { name: 'New code' }).click();
    await page.locator('#ticket-status[data-state=WAITING]').waitFor();
    const second = await newestIssued();
    expect(second.scene).not.toBe(first.scene);
    expect(await page.getByRole('button', { name: 'New code' }).isHidden()).toBe(true);

    // Its time passes (moved here by hand); the page, reloaded, picks the ticket up and says so.
    await sqlAt(shared.db.url)(
      `update login_ticket set expires_at = now() - interval '1 second' where scene = ?`,
      [second.scene],
    );
    await page.reload();
    await page.locator('#ticket-status[data-state=EXPIRED]').waitFor();
    expect(await page.locator('#ticket-status').textContent()).toBe('This code has expired. 二维码已过期');
    expect(await page.getByRole('button', { name: 'New code' }).isVisible()).toBe(true);
    await screenshot(page, 'login-ticket-expired.png');
    // The phone, too late: the mini program page says it expired.
    await phone.goto(phoneUrl(second.scene, b));
    await phone.locator('#scan').click();
    await phone.locator('#status[data-state=error]').waitFor();
    expect(await phone.locator('#error-code').textContent()).toBe('TICKET_EXPIRED');
    await phoneContext.close();
    await context.close();
  });

  it('polls the loginTicket query when the WebSocket cannot open', async () => {
    const context = await browser.newContext();
    // A proxy that refuses WebSockets: every upgrade closed at once.
    await context.routeWebSocket(/\/graphql$/, (socket) => socket.close());
    const page = await openExample(context);
    const operations = watchOperations(page);
    await page.getByRole('button', { name: 'Scan with WeChat (mini program)' }).click();
    await page.locator('#ticket-status[data-state=WAITING]').waitFor();
    const issued = await newestIssued();
    const phoneContext = await browser.newContext();
    const phone = await phoneContext.newPage();
    await phone.goto(phoneUrl(issued.scene, b));
    const person = await scanAndAnswer(phone, 'dave', 'confirm');
    await page.locator('#user-id', { hasText: person.id }).waitFor();
    expect(operations[0]).toBe('CreateLoginTicket');
    expect(operations.filter((name) => name === 'LoginTicket').length).toBeGreaterThan(0);
    await phoneContext.close();
    await context.close();
  });
});
